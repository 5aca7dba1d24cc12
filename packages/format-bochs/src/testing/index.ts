export { type BochsImageSpec, buildBochsImage, bximageSizing, EMPTY_BOCHS_SPEC } from './image-builder.js';

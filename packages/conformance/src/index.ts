export * from './checks.js';
export { type DriverConformanceOptions, runDriverConformance } from './run-driver-conformance.js';

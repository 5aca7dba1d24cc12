export * from './checks.js';
export { type CrashSafetyOptions, type CrashSafetyResult, checkCrashSafety } from './crash-safety.js';
export { type DriverConformanceOptions, runDriverConformance } from './run-driver-conformance.js';

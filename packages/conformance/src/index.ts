export * from './checks.js';
export { type CrashSafetyOptions, type CrashSafetyResult, checkCrashSafety } from './crash-safety.js';
export { type FuzzDriverOptions, type FuzzField, fuzzDriver } from './fuzz-driver.js';
export { type DriverConformanceOptions, runDriverConformance } from './run-driver-conformance.js';

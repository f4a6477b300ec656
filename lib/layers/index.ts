export * from './activation';
export * from './batchnorm';
export * from './conv';
export * from './linear';
export * from './loss';
export * from './pool';
export * from './sandwich';
export * from '../engine/op';
export { Arena, withArena } from '../engine/arena';

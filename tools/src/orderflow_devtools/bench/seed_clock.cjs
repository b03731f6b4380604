// Preloaded into the seed's consumer (`node -r seed_clock.cjs ...`) by `orderflow bench`: each
// console.log line gets the wall-clock time in ms in front, so an order's payment time is taken
// when the consumer logs it, not when the benchmark gets round to reading the pipe. Measurement
// only: the consumer's code and behaviour are unchanged.
const log = console.log;
console.log = (...args) => log(`@${Date.now()}`, ...args);

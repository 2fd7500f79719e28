#![no_main]

#[path = "../checks.rs"]
mod checks;

// One target for every text input: the environment as a whole, and the scalar parsers alone.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    checks::env_inputs(data);
    checks::scalars(data);
});

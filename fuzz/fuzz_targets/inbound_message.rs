//! Feeds arbitrary bytes to the inbound e-mail parser: anyone can mail us, so it must
//! neither panic nor hang on whatever arrives.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = whistle::inbound::message::parse(data);
});

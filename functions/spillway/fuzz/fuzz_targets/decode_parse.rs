//! Arbitrary bytes through the subscription decoder and the Enhanced Monitoring parser: no
//! panic, and every accepted sample is one the pipeline may emit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spillway::metrics::{em, pipeline, subscription};

fn check(samples: &[em::Sample]) {
    for s in samples {
        assert!(s.cpu_total.is_finite() && (0.0..=100.0).contains(&s.cpu_total));
    }
}

fuzz_target!(|data: &[u8]| {
    // As a whole Lambda event, the way the runtime hands it to the function (a JSON value).
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data)
        && let Ok(batch) = subscription::decode_value(value)
    {
        let samples = pipeline::parse_batch(&batch, &mut pipeline::Report::default());
        check(&samples);
    }
    // As one log event's message.
    if let Ok(message) = std::str::from_utf8(data) {
        let samples: Vec<_> = em::parse_message(message).into_iter().flatten().collect();
        check(&samples);
    }
});

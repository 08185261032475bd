//! The sign.conf parser: any text parses or fails with a located error,
//! never panics; a parsed configuration also builds (or fails) cleanly.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = signatrust::config::sign_conf::parse_directives("fuzz.conf", text);
    if let Ok(conf) = signatrust::config::SignConf::parse("fuzz.conf", text) {
        let _ = conf.upstream();
        let _ = signatrust::config::Config::build(None, None, Some(&conf), None);
    }
});

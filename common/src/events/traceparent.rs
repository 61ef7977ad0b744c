//! W3C trace context: the `traceparent` a gRPC call brought, or a new trace.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceParent(String);

impl TraceParent {
    /// `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`, ids not all zero.
    pub fn parse(raw: &str) -> Option<Self> {
        let parts: Vec<&str> = raw.trim().split('-').collect();
        let [version, trace, parent, flags] = parts.as_slice() else {
            return None;
        };
        let hex = |s: &str, n: usize| {
            s.len() == n && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        };
        let ok = hex(version, 2)
            && *version != "ff"
            && hex(trace, 32)
            && trace.bytes().any(|b| b != b'0')
            && hex(parent, 16)
            && parent.bytes().any(|b| b != b'0')
            && hex(flags, 2);
        ok.then(|| Self(raw.trim().to_owned()))
    }

    /// A new sampled trace with a random trace and span id.
    pub fn new_trace() -> Self {
        let trace = uuid::Uuid::new_v4().simple().to_string();
        let span = &uuid::Uuid::new_v4().simple().to_string()[..16];
        Self(format!("00-{trace}-{span}-01"))
    }

    /// The caller's trace, or a new one when it sent none (or a bad one).
    pub fn from_metadata(value: Option<&str>) -> Self {
        value.and_then(Self::parse).unwrap_or_else(Self::new_trace)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::TraceParent;

    #[test]
    fn valid_traceparents_pass_and_others_start_a_new_trace() {
        let given = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(TraceParent::from_metadata(Some(given)).as_str(), given);
        for bad in [
            "",
            "00-xyz",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        ] {
            let fresh = TraceParent::from_metadata(Some(bad));
            assert_ne!(fresh.as_str(), bad);
            assert!(TraceParent::parse(fresh.as_str()).is_some());
        }
    }
}

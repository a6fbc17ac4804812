//! The WebSocket keys: `protocol` and `websockets_path` (per listener, the
//! most recent `listener` line's, as in mosquitto) and
//! `websockets_headers_size` (global, as in mosquitto).
//!
//! Without the `websocket` feature `protocol websockets` is refused: the
//! listener would otherwise speak plain MQTT to clients that expect
//! WebSocket (README.md, Configuration).

use super::error::ConfigError;
use super::line::Line;
use super::listener::ListenerConfig;

/// What a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ListenerProtocol {
    #[default]
    Mqtt,
    /// MQTT over WebSocket (MQTT 3.1.1 §6).
    WebSockets,
}

/// The path MQTT over WebSocket clients use by convention (MQTT.js, paho,
/// browsers' examples); mosquitto takes any path.
pub const DEFAULT_WEBSOCKETS_PATH: &str = "/mqtt";

/// A path is compared byte for byte on every upgrade; longer than this is
/// a config mistake.
pub const WEBSOCKETS_PATH_CEILING: usize = 256;

/// `websockets_headers_size`: the request head is buffered while the
/// upgrade is read, at most this much per connection (a few hundred bytes
/// from MQTT clients, a few KiB from browsers with cookies).
pub const DEFAULT_WEBSOCKETS_HEADERS_SIZE: usize = 8192;
/// mosquitto's own default, and room for any MQTT client's request.
pub const WEBSOCKETS_HEADERS_SIZE_FLOOR: usize = 1024;
/// Every connection may hold this much until its upgrade is done.
pub const WEBSOCKETS_HEADERS_SIZE_CEILING: usize = 65_536;

/// Whether this build has WebSocket listeners.
const BUILT: bool = cfg!(feature = "websocket");

const NOT_BUILT: &str = "WebSocket listeners are not in this build of edgemq (built without \
    the `websocket` feature; this listener would speak plain MQTT): remove the line to serve \
    MQTT over TCP, or use a build with the feature";

/// `protocol mqtt|websockets`, for the listener defined last.
pub(super) fn protocol(
    listener: Option<&mut ListenerConfig>,
    line: &Line<'_>,
) -> Result<(), ConfigError> {
    let protocol = match line.one()? {
        "mqtt" => ListenerProtocol::Mqtt,
        "websockets" if !BUILT => return Err(line.error(NOT_BUILT)),
        "websockets" => ListenerProtocol::WebSockets,
        v => {
            return Err(line.error(format!(
                "expected mqtt or websockets, got '{}'",
                v.escape_debug()
            )))
        }
    };
    match listener {
        Some(listener) => listener.protocol = protocol,
        // The built-in listener speaks MQTT: `protocol mqtt` asks for that.
        None if protocol == ListenerProtocol::Mqtt => {}
        None => {
            return Err(line.error(
                "protocol websockets applies to the listener above it: put it after a \
                 'listener PORT [ADDRESS]' line",
            ))
        }
    }
    Ok(())
}

/// `websockets_path PATH`, for the listener defined last, which must
/// already say `protocol websockets`.
pub(super) fn path(
    listener: Option<&mut ListenerConfig>,
    line: &Line<'_>,
) -> Result<(), ConfigError> {
    let path = line.one()?;
    if !BUILT {
        return Err(line.error(NOT_BUILT));
    }
    let Some(listener) = listener.filter(|l| l.protocol == ListenerProtocol::WebSockets) else {
        return Err(line.error(
            "websockets_path applies to a WebSocket listener: put it after \
             'listener PORT [ADDRESS]' and 'protocol websockets'",
        ));
    };
    let printable = path.bytes().all(|b| b.is_ascii_graphic());
    if !path.starts_with('/') || path.contains('?') || !printable {
        return Err(line.error(format!(
            "expected an absolute path such as /mqtt (printable ASCII, no query), got '{}'",
            path.escape_debug()
        )));
    }
    if path.len() > WEBSOCKETS_PATH_CEILING {
        return Err(line.error(format!("longer than {WEBSOCKETS_PATH_CEILING} bytes")));
    }
    listener.websockets_path = path.to_owned();
    Ok(())
}

/// `websockets_headers_size BYTES`; 0 is the default, as in mosquitto.
pub(super) fn headers_size(line: &Line<'_>) -> Result<usize, ConfigError> {
    match line.size(0, WEBSOCKETS_HEADERS_SIZE_CEILING)? {
        0 => Ok(DEFAULT_WEBSOCKETS_HEADERS_SIZE),
        n if n < WEBSOCKETS_HEADERS_SIZE_FLOOR => Err(line.error(format!(
            "at least {WEBSOCKETS_HEADERS_SIZE_FLOOR} (or 0 for the default, \
             {DEFAULT_WEBSOCKETS_HEADERS_SIZE})"
        ))),
        n => Ok(n),
    }
}

#[cfg(all(test, feature = "websocket"))]
mod tests {
    use super::*;
    use crate::config::parser::Parser;

    fn parse(text: &str) -> Result<crate::config::Config, ConfigError> {
        let mut p = Parser::new("m.conf");
        p.parse(text, "m.conf", 0)?;
        p.finish().map(|(c, _)| c)
    }

    #[test]
    fn a_websocket_listener_and_its_path() {
        let c = parse(
            "listener 1883\nlistener 8080\nprotocol websockets\nwebsockets_path /ws/mqtt\n\
             listener 9001\nprotocol websockets\nlistener 1884\nprotocol mqtt\n\
             websockets_headers_size 4096",
        )
        .unwrap();
        let protocols: Vec<_> = c.listeners.iter().map(|l| l.protocol).collect();
        use ListenerProtocol::*;
        assert_eq!(protocols, [Mqtt, WebSockets, WebSockets, Mqtt]);
        assert_eq!(c.listeners[1].websockets_path, "/ws/mqtt");
        assert_eq!(c.listeners[2].websockets_path, DEFAULT_WEBSOCKETS_PATH);
        assert_eq!(c.websockets_headers_size, 4096);
        let d = parse("websockets_headers_size 0").unwrap();
        assert_eq!(d.websockets_headers_size, DEFAULT_WEBSOCKETS_HEADERS_SIZE);
    }

    #[test]
    fn mistakes() {
        let error = |text: &str| parse(text).unwrap_err().to_string();
        assert!(error("protocol websockets").contains("after a 'listener"));
        assert!(parse("protocol mqtt").is_ok());
        assert!(error("listener 1\nprotocol mqtts").contains("expected mqtt or websockets"));
        assert!(error("listener 1\nwebsockets_path /x").contains("protocol websockets"));
        let ws = "listener 1\nprotocol websockets\nwebsockets_path";
        assert!(error(&format!("{ws} mqtt")).contains("absolute path"));
        assert!(error(&format!("{ws} /a?b")).contains("absolute path"));
        let long = format!("{ws} /{}", "a".repeat(WEBSOCKETS_PATH_CEILING));
        assert!(error(&long).contains("longer than"));
        assert!(error("websockets_headers_size 100").contains("at least 1024"));
        assert!(error("websockets_headers_size 1000000").contains("65536"));
    }
}

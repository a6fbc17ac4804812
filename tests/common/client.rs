//! rumqttc 0.25 (MQTT 3.1.1) as the well-known client: an `AsyncClient` plus
//! a spawned task that polls its `EventLoop`.
//!
//! The poller forwards incoming PUBLISHes to one channel and every other
//! incoming packet (and connection errors) to another, so a test can wait for
//! exactly what it expects, each wait bounded. After a connection error the
//! poller stops (no reconnect storm against a stopped broker) unless the
//! client was made with `reconnect(true)`, which retries every 100 ms.

use rumqttc::{
    AsyncClient, ConnAck, ConnectReturnCode, Event, EventLoop, MqttOptions, Packet, Publish, QoS,
    SubscribeReasonCode,
};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::task::JoinHandle;

/// Default bound for waits in this module (scaled by `time_scale`).
const WAIT: Duration = Duration::from_secs(10);

/// What the poller reports besides PUBLISHes.
#[derive(Debug)]
pub enum ClientEvent {
    /// An incoming packet other than PUBLISH (CONNACK, SUBACK, PUBACK, ...).
    Packet(Packet),
    /// `EventLoop::poll` failed (refused, closed, I/O error), as text.
    Error(String),
}

/// A connected-or-connecting rumqttc client and its channels.
pub struct MqttClient {
    pub client: AsyncClient,
    pub publishes: UnboundedReceiver<Publish>,
    pub events: UnboundedReceiver<ClientEvent>,
    reconnect: bool,
    poller: JoinHandle<()>,
}

/// `MqttOptions` for `client_id` at 127.0.0.1:`port`: keepalive 30 s, clean
/// session, 1 MiB packets both ways (the broker's limits are what tests probe).
pub fn options(client_id: &str, port: u16) -> MqttOptions {
    options_for(client_id, SocketAddr::from(([127, 0, 0, 1], port)))
}

/// Same as [`options`] for any address.
pub fn options_for(client_id: &str, addr: SocketAddr) -> MqttOptions {
    let mut o = MqttOptions::new(client_id, addr.ip().to_string(), addr.port());
    o.set_keep_alive(Duration::from_secs(30));
    o.set_clean_session(true);
    o.set_max_packet_size(1 << 20, 1 << 20);
    o
}

impl MqttClient {
    /// Start the client and its poller; does not wait for the CONNACK.
    pub fn start(opts: MqttOptions, reconnect: bool) -> MqttClient {
        let (client, eventloop) = AsyncClient::new(opts, 64);
        let (ptx, publishes) = unbounded_channel();
        let (etx, events) = unbounded_channel();
        let poller = tokio::spawn(poll(eventloop, ptx, etx, reconnect));
        MqttClient {
            client,
            publishes,
            events,
            reconnect,
            poller,
        }
    }

    /// Connect `client_id` to 127.0.0.1:`port` (clean session) and wait for a
    /// successful CONNACK. Panics otherwise.
    pub async fn connect(client_id: &str, port: u16) -> MqttClient {
        Self::connect_with(options(client_id, port)).await
    }

    /// Connect with these options and wait for a successful CONNACK.
    pub async fn connect_with(opts: MqttOptions) -> MqttClient {
        let id = opts.client_id();
        let mut c = Self::start(opts, false);
        match c.wait_connack(super::scaled(WAIT)).await {
            Ok(ack) if ack.code == ConnectReturnCode::Success => c,
            other => panic!("client {id}: no successful CONNACK: {other:?}"),
        }
    }

    /// The next CONNACK, or the error / timeout that came instead. A refusal
    /// shows as `Err("...ConnectionRefused(...)")`, as rumqttc reports it.
    /// A reconnecting client skips connection errors until a CONNACK or the
    /// deadline (then the last error is returned).
    pub async fn wait_connack(&mut self, timeout: Duration) -> Result<ConnAck, String> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut last_error = None;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let ev = self
                .wait_event(left, |e| {
                    matches!(
                        e,
                        ClientEvent::Packet(Packet::ConnAck(_)) | ClientEvent::Error(_)
                    )
                })
                .await;
            match ev {
                Some(ClientEvent::Packet(Packet::ConnAck(a))) => return Ok(a),
                Some(ClientEvent::Error(e)) if self.reconnect => last_error = Some(e),
                Some(ClientEvent::Error(e)) => return Err(e),
                Some(other) => return Err(format!("unexpected {other:?}")),
                None => return Err(last_error.unwrap_or_else(|| "timeout".to_owned())),
            }
        }
    }

    /// The next event matching `pred`, skipping (and dropping) others.
    pub async fn wait_event(
        &mut self,
        timeout: Duration,
        pred: impl Fn(&ClientEvent) -> bool,
    ) -> Option<ClientEvent> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let ev = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .ok()??;
            if pred(&ev) {
                return Some(ev);
            }
        }
    }

    /// Subscribe and wait for the SUBACK; its return codes. Panics on timeout.
    pub async fn subscribe(&mut self, filter: &str, qos: QoS) -> Vec<SubscribeReasonCode> {
        self.client
            .subscribe(filter, qos)
            .await
            .unwrap_or_else(|e| panic!("subscribe {filter}: {e}"));
        match self
            .wait_event(super::scaled(WAIT), |e| {
                matches!(
                    e,
                    ClientEvent::Packet(Packet::SubAck(_)) | ClientEvent::Error(_)
                )
            })
            .await
        {
            Some(ClientEvent::Packet(Packet::SubAck(ack))) => ack.return_codes,
            other => panic!("subscribe {filter}: no SUBACK: {other:?}"),
        }
    }

    /// Queue a PUBLISH (the poller sends it).
    pub async fn publish(&self, topic: &str, qos: QoS, retain: bool, payload: impl Into<Vec<u8>>) {
        self.client
            .publish(topic, qos, retain, payload)
            .await
            .unwrap_or_else(|e| panic!("publish {topic}: {e}"));
    }

    /// The next PUBLISH, or `None` at `timeout`.
    pub async fn recv_publish(&mut self, timeout: Duration) -> Option<Publish> {
        recv_publish(&mut self.publishes, timeout).await
    }

    /// Send DISCONNECT, give the poller a moment to write it, then stop it.
    pub async fn disconnect(mut self) {
        let _ = self.client.disconnect().await;
        // The poller ends (and closes the channel) once the broker closes the
        // socket after DISCONNECT; bounded in case it does not.
        let events = &mut self.events;
        let _ = tokio::time::timeout(super::scaled(Duration::from_secs(2)), async {
            while events.recv().await.is_some() {}
        })
        .await;
        self.poller.abort();
    }

    /// Drop the TCP connection without DISCONNECT (abnormal: wills fire).
    pub fn abort(self) {
        self.poller.abort();
    }
}

impl Drop for MqttClient {
    fn drop(&mut self) {
        self.poller.abort();
    }
}

/// The next PUBLISH from `rx`, or `None` at `timeout` (or if the poller ended).
pub async fn recv_publish(
    rx: &mut UnboundedReceiver<Publish>,
    timeout: Duration,
) -> Option<Publish> {
    tokio::time::timeout(timeout, rx.recv())
        .await
        .ok()
        .flatten()
}

async fn poll(
    mut eventloop: EventLoop,
    publishes: UnboundedSender<Publish>,
    events: UnboundedSender<ClientEvent>,
    reconnect: bool,
) {
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let _ = publishes.send(p);
            }
            Ok(Event::Incoming(p)) => {
                let _ = events.send(ClientEvent::Packet(p));
            }
            Ok(Event::Outgoing(_)) => {}
            Err(e) => {
                let _ = events.send(ClientEvent::Error(format!("{e:?}")));
                if !reconnect {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

//! Property tests of the codec: `decode(encode(p)) == p` for every packet
//! kind and version; arbitrary bytes never panic; every split point of a
//! stream yields the same packets, through `decode` and through the
//! `Framer` (however reads cut the stream and wherever its caller stops);
//! frames agree with `encode`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use edgemq::codec::*;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

const MAX: usize = 1 << 20;

/// Which packet a property block belongs to (mirrors the codec's private
/// table, MQTT 5 table 2-4).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Ctx {
    Connect,
    Will,
    ConnAck,
    Publish,
    Ack,
    Subscribe,
    SubAck,
    Unsubscribe,
    UnsubAck,
    Disconnect,
    Auth,
}

fn version() -> impl Strategy<Value = ProtocolVersion> {
    prop_oneof![
        Just(ProtocolVersion::V3_1),
        Just(ProtocolVersion::V3_1_1),
        Just(ProtocolVersion::V5)
    ]
}

/// Valid MQTT strings: any chars but U+0000 (Rust chars exclude surrogates).
fn text() -> impl Strategy<Value = String> {
    vec(any::<char>().prop_filter("no U+0000", |c| *c != '\0'), 0..8)
        .prop_map(|chars| chars.into_iter().collect())
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..24)
}

fn packet_id() -> impl Strategy<Value = PacketId> {
    (1..=u16::MAX).prop_map(|v| PacketId::new(v).unwrap())
}

fn qos() -> impl Strategy<Value = QoS> {
    (0u8..3).prop_map(|v| QoS::from_u8(v).unwrap())
}

fn flag() -> impl Strategy<Value = u8> {
    0u8..=1
}

fn reason(version: ProtocolVersion) -> BoxedStrategy<ReasonCode> {
    if version.is_v5() {
        any::<u8>().prop_map(ReasonCode).boxed()
    } else {
        Just(ReasonCode::SUCCESS).boxed()
    }
}

/// A valid property block for `ctx`: each allowed property at most once
/// (User Property, and Subscription Identifier in PUBLISH, several times),
/// in any order. Empty below 5.0.
fn properties(version: ProtocolVersion, ctx: Ctx) -> BoxedStrategy<Properties> {
    use Ctx::*;
    if !version.is_v5() {
        return Just(Properties::default()).boxed();
    }
    let mut singles: Vec<BoxedStrategy<Property>> = Vec::new();
    let message = [Publish, Will].contains(&ctx);
    if message {
        singles.push(flag().prop_map(Property::PayloadFormatIndicator).boxed());
        singles.push(
            any::<u32>()
                .prop_map(Property::MessageExpiryInterval)
                .boxed(),
        );
        singles.push(text().prop_map(Property::ContentType).boxed());
        singles.push(text().prop_map(Property::ResponseTopic).boxed());
        singles.push(bytes().prop_map(Property::CorrelationData).boxed());
    }
    if ctx == Subscribe {
        singles.push(
            (1u32..=268_435_455)
                .prop_map(Property::SubscriptionIdentifier)
                .boxed(),
        );
    }
    if [Connect, ConnAck, Disconnect].contains(&ctx) {
        singles.push(
            any::<u32>()
                .prop_map(Property::SessionExpiryInterval)
                .boxed(),
        );
    }
    if ctx == ConnAck {
        singles.push(text().prop_map(Property::AssignedClientIdentifier).boxed());
        singles.push(any::<u16>().prop_map(Property::ServerKeepAlive).boxed());
        singles.push(text().prop_map(Property::ResponseInformation).boxed());
        singles.push(flag().prop_map(Property::MaximumQoS).boxed());
        singles.push(flag().prop_map(Property::RetainAvailable).boxed());
        singles.push(
            flag()
                .prop_map(Property::WildcardSubscriptionAvailable)
                .boxed(),
        );
        singles.push(
            flag()
                .prop_map(Property::SubscriptionIdentifierAvailable)
                .boxed(),
        );
        singles.push(
            flag()
                .prop_map(Property::SharedSubscriptionAvailable)
                .boxed(),
        );
    }
    if [Connect, ConnAck, Auth].contains(&ctx) {
        singles.push(text().prop_map(Property::AuthenticationMethod).boxed());
        singles.push(bytes().prop_map(Property::AuthenticationData).boxed());
    }
    if ctx == Connect {
        singles.push(flag().prop_map(Property::RequestProblemInformation).boxed());
        singles.push(
            flag()
                .prop_map(Property::RequestResponseInformation)
                .boxed(),
        );
    }
    if ctx == Will {
        singles.push(any::<u32>().prop_map(Property::WillDelayInterval).boxed());
    }
    if [ConnAck, Disconnect].contains(&ctx) {
        singles.push(text().prop_map(Property::ServerReference).boxed());
    }
    if [ConnAck, Ack, SubAck, UnsubAck, Disconnect, Auth].contains(&ctx) {
        singles.push(text().prop_map(Property::ReasonString).boxed());
    }
    if [Connect, ConnAck].contains(&ctx) {
        singles.push((1..=u16::MAX).prop_map(Property::ReceiveMaximum).boxed());
        singles.push(any::<u16>().prop_map(Property::TopicAliasMaximum).boxed());
        singles.push((1..=u32::MAX).prop_map(Property::MaximumPacketSize).boxed());
    }
    if ctx == Publish {
        singles.push(any::<u16>().prop_map(Property::TopicAlias).boxed());
    }
    let singles: Vec<_> = singles
        .into_iter()
        .map(|s| option::weighted(0.4, s))
        .collect();
    let users = vec(
        (text(), text()).prop_map(|(k, v)| Property::UserProperty(k, v)),
        0..3,
    );
    let ids = if ctx == Publish {
        vec(
            (1u32..=268_435_455).prop_map(Property::SubscriptionIdentifier),
            0..3,
        )
        .boxed()
    } else {
        Just(Vec::new()).boxed()
    };
    (singles, users, ids)
        .prop_map(|(singles, users, ids)| {
            singles
                .into_iter()
                .flatten()
                .chain(users)
                .chain(ids)
                .collect::<Vec<_>>()
        })
        .prop_shuffle()
        .prop_map(Properties)
        .boxed()
}

fn connect(version: ProtocolVersion) -> BoxedStrategy<Packet> {
    let will = (
        text(),
        bytes(),
        qos(),
        any::<bool>(),
        properties(version, Ctx::Will),
    )
        .prop_map(|(topic, payload, qos, retain, properties)| Will {
            topic,
            payload,
            qos,
            retain,
            properties,
        });
    let fields = (any::<bool>(), any::<bool>(), any::<u16>(), text());
    let credentials = (option::of(text()), option::of(bytes())).prop_map(move |(u, p)| {
        // [MQTT-3.1.2-22]: below 5.0 a password needs a user name.
        if version.is_v5() || u.is_some() {
            (u, p)
        } else {
            (None, None)
        }
    });
    (
        fields,
        option::of(will),
        credentials,
        properties(version, Ctx::Connect),
    )
        .prop_map(
            move |(
                (bridge, clean_start, keep_alive, client_id),
                will,
                (username, password),
                properties,
            )| {
                Packet::Connect(Box::new(Connect {
                    protocol: version,
                    bridge,
                    clean_start,
                    keep_alive,
                    client_id,
                    will,
                    username,
                    password,
                    properties,
                }))
            },
        )
        .boxed()
}

fn publish(version: ProtocolVersion) -> BoxedStrategy<Packet> {
    (
        qos(),
        any::<bool>(),
        any::<bool>(),
        packet_id(),
        text(),
        bytes(),
        properties(version, Ctx::Publish),
    )
        .prop_map(|(qos, dup, retain, id, topic, payload, properties)| {
            let qos0 = qos == QoS::AtMostOnce;
            Packet::Publish(Publish {
                dup: dup && !qos0,
                qos,
                retain,
                packet_id: if qos0 { None } else { Some(id) },
                body: PublishBody::new(&topic, &payload).unwrap(),
                properties,
            })
        })
        .boxed()
}

fn subscribe(version: ProtocolVersion) -> BoxedStrategy<Packet> {
    let options =
        (qos(), any::<bool>(), any::<bool>(), 0u8..3).prop_map(move |(qos, nl, rap, rh)| {
            if !version.is_v5() {
                return SubscriptionOptions {
                    qos,
                    ..SubscriptionOptions::default()
                };
            }
            let retain_handling = match rh {
                0 => RetainHandling::SendAtSubscribe,
                1 => RetainHandling::SendIfNew,
                _ => RetainHandling::DoNotSend,
            };
            SubscriptionOptions {
                qos,
                no_local: nl,
                retain_as_published: rap,
                retain_handling,
            }
        });
    let request =
        (text(), options).prop_map(|(filter, options)| SubscriptionRequest { filter, options });
    (
        packet_id(),
        vec(request, 1..4),
        properties(version, Ctx::Subscribe),
    )
        .prop_map(|(packet_id, requests, properties)| {
            Packet::Subscribe(Subscribe {
                packet_id,
                requests,
                properties,
            })
        })
        .boxed()
}

fn packet(version: ProtocolVersion) -> BoxedStrategy<Packet> {
    let v5 = version.is_v5();
    let ack_kind = prop_oneof![
        Just(AckKind::PubAck),
        Just(AckKind::PubRec),
        Just(AckKind::PubRel),
        Just(AckKind::PubComp)
    ];
    let ack = (
        ack_kind,
        packet_id(),
        reason(version),
        properties(version, Ctx::Ack),
    )
        .prop_map(|(kind, packet_id, reason, properties)| {
            Packet::Ack(Ack {
                kind,
                packet_id,
                reason,
                properties,
            })
        });
    let connack = (
        any::<bool>(),
        any::<u8>(),
        properties(version, Ctx::ConnAck),
    )
        .prop_map(|(session_present, code, properties)| {
            Packet::ConnAck(ConnAck {
                session_present,
                code,
                properties,
            })
        });
    let suback_code = if v5 {
        any::<u8>().prop_map(ReasonCode).boxed()
    } else {
        prop_oneof![Just(0u8), Just(1), Just(2), Just(0x80)]
            .prop_map(ReasonCode)
            .boxed()
    };
    let suback = (
        packet_id(),
        vec(suback_code, 0..5),
        properties(version, Ctx::SubAck),
    )
        .prop_map(|(packet_id, codes, properties)| {
            Packet::SubAck(SubAck {
                packet_id,
                codes,
                properties,
            })
        });
    let unsubscribe = (
        packet_id(),
        vec(text(), 1..4),
        properties(version, Ctx::Unsubscribe),
    )
        .prop_map(|(packet_id, filters, properties)| {
            Packet::Unsubscribe(Unsubscribe {
                packet_id,
                filters,
                properties,
            })
        });
    let unsuback_codes = if v5 {
        vec(any::<u8>().prop_map(ReasonCode), 0..5).boxed()
    } else {
        Just(Vec::new()).boxed()
    };
    let unsuback = (
        packet_id(),
        unsuback_codes,
        properties(version, Ctx::UnsubAck),
    )
        .prop_map(|(packet_id, codes, properties)| {
            Packet::UnsubAck(UnsubAck {
                packet_id,
                codes,
                properties,
            })
        });
    let disconnect = (reason(version), properties(version, Ctx::Disconnect))
        .prop_map(|(reason, properties)| Packet::Disconnect(Disconnect { reason, properties }));
    let auth = (reason(version), properties(version, Ctx::Auth))
        .prop_map(|(reason, properties)| Packet::Auth(Auth { reason, properties }));
    let common = prop_oneof![
        connect(version),
        connack,
        publish(version),
        ack,
        subscribe(version),
        suback,
        unsubscribe,
        unsuback,
        Just(Packet::PingReq),
        Just(Packet::PingResp),
        disconnect,
    ];
    if v5 {
        prop_oneof![10 => common, 1 => auth].boxed()
    } else {
        common.boxed()
    }
}

fn versioned_packet() -> impl Strategy<Value = (ProtocolVersion, Packet)> {
    version().prop_flat_map(|v| (Just(v), packet(v)))
}

fn encoded(packet: &Packet, version: ProtocolVersion) -> Vec<u8> {
    let mut out = Vec::new();
    encode(packet, version, &mut out).unwrap();
    out
}

fn joined(frame: &Frame) -> Vec<u8> {
    frame
        .slices()
        .iter()
        .flat_map(|s| s.iter().copied())
        .collect()
}

proptest! {
    #[test]
    fn decode_inverts_encode((version, packet) in versioned_packet()) {
        let bytes = encoded(&packet, version);
        prop_assert_eq!(decode(&bytes, version, MAX), Ok(Decoded::Packet(packet.clone(), bytes.len())));
        // The size cap counts the whole packet.
        prop_assert_eq!(decode(&bytes, version, bytes.len()), Ok(Decoded::Packet(packet, bytes.len())));
        let too_large = matches!(
            decode(&bytes, version, bytes.len() - 1),
            Err(DecodeError::TooLarge { .. })
        );
        prop_assert!(too_large);
    }

    #[test]
    fn frames_agree_with_encode((version, packet) in versioned_packet()) {
        let bytes = encoded(&packet, version);
        let frame = Frame::packet(&packet, version).unwrap();
        prop_assert_eq!(frame.len(), bytes.len());
        prop_assert_eq!(joined(&frame), bytes);
    }

    #[test]
    fn publish_frame_slices_are_the_encoding(version in version(), packet in version().prop_flat_map(publish)) {
        let Packet::Publish(p) = &packet else { unreachable!() };
        // Build the frame for this version, from a packet generated for any.
        let properties = if version.is_v5() { p.properties.clone() } else { Properties::default() };
        let frame = Frame::publish(&p.body, p.qos, p.retain, p.dup, p.packet_id, Some(&properties), version).unwrap();
        let expected = Packet::Publish(Publish { properties, ..p.clone() });
        let bytes = encoded(&expected, version);
        prop_assert_eq!(joined(&frame), bytes.clone());
        prop_assert!(frame.slices().len() <= 5);
        prop_assert!(frame.slices().iter().all(|s| !s.is_empty()));
        prop_assert_eq!(decode(&bytes, version, MAX), Ok(Decoded::Packet(expected, bytes.len())));
    }

    #[test]
    fn random_bytes_never_panic(version in version(), bytes in vec(any::<u8>(), 0..64), cap in 0usize..100) {
        let _ = decode(&bytes, version, cap);
        let _ = decode(&bytes, version, MAX);
    }

    /// Random bytes rarely get past the fixed header; a valid packet with
    /// one byte changed or cut short reaches every field decoder.
    #[test]
    fn mutated_packets_never_panic(
        (version, packet) in versioned_packet(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        cut in any::<prop::sample::Index>(),
        other in version(),
    ) {
        let mut bytes = encoded(&packet, version);
        let i = at.index(bytes.len());
        bytes[i] = byte;
        let _ = decode(&bytes, version, MAX);
        let _ = decode(&bytes, other, MAX);
        bytes.truncate(cut.index(bytes.len() + 1));
        let _ = decode(&bytes, version, MAX);
    }

    #[test]
    fn every_split_point_yields_the_same_packets(
        (version, packets) in version().prop_flat_map(|v| (Just(v), vec(packet(v), 1..5))),
    ) {
        let mut stream = Vec::new();
        let mut ends = Vec::new();
        for p in &packets {
            encode(p, version, &mut stream).unwrap();
            ends.push(stream.len());
        }
        for prefix in 0..=stream.len() {
            let buf = &stream[..prefix];
            let mut offset = 0;
            let mut got = Vec::new();
            loop {
                match decode(&buf[offset..], version, MAX) {
                    Ok(Decoded::Packet(p, used)) => {
                        offset += used;
                        got.push(p);
                    }
                    Ok(Decoded::Incomplete) => break,
                    Err(e) => return Err(TestCaseError::fail(format!("{e} at prefix {prefix}"))),
                }
            }
            let whole = ends.iter().filter(|&&end| end <= prefix).count();
            prop_assert_eq!(&got[..], &packets[..whole]);
            prop_assert_eq!(offset, if whole == 0 { 0 } else { ends[whole - 1] });
        }
    }
}

/// `packets` encoded back to back.
fn stream_of(packets: &[Packet], version: ProtocolVersion) -> Vec<u8> {
    let mut stream = Vec::new();
    for p in packets {
        encode(p, version, &mut stream).unwrap();
    }
    stream
}

/// Feeds `input` and takes every packet it completes.
fn take_all(
    framer: &mut Framer,
    input: &[u8],
    version: ProtocolVersion,
    got: &mut Vec<Packet>,
) -> Result<(), TestCaseError> {
    let mut packets = framer.feed(input);
    while let Some(p) = packets
        .next_packet(version, MAX)
        .map_err(|e| TestCaseError::fail(e.to_string()))?
    {
        got.push(p);
    }
    Ok(())
}

proptest! {
    #[test]
    fn the_framer_yields_the_same_packets_at_every_split_point(
        (version, packets) in version().prop_flat_map(|v| (Just(v), vec(packet(v), 1..5))),
    ) {
        let stream = stream_of(&packets, version);
        for cut in 0..=stream.len() {
            let mut framer = Framer::new();
            let mut got = Vec::new();
            take_all(&mut framer, &stream[..cut], version, &mut got)?;
            take_all(&mut framer, &stream[cut..], version, &mut got)?;
            prop_assert_eq!(&got, &packets, "cut at {}", cut);
            prop_assert!(framer.is_empty());
        }
    }

    /// Many reads, and a caller that stops after some packets (a paused
    /// publisher) and resumes with no new input before the next read, as
    /// the connection task does.
    #[test]
    fn the_framer_keeps_order_across_reads_and_stops(
        (version, packets) in version().prop_flat_map(|v| (Just(v), vec(packet(v), 1..8))),
        cuts in vec(any::<prop::sample::Index>(), 0..8),
        stops in vec(any::<bool>(), 1..16),
    ) {
        let stream = stream_of(&packets, version);
        let mut bounds: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
        bounds.extend([0, stream.len()]);
        bounds.sort_unstable();
        let mut stop_after = stops.iter().copied().cycle();
        let mut framer = Framer::new();
        let mut got = Vec::new();
        for read in bounds.windows(2) {
            let mut input = &stream[read[0]..read[1]];
            loop {
                let mut taken = framer.feed(input);
                input = &[];
                while let Some(p) = taken
                    .next_packet(version, MAX)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?
                {
                    got.push(p);
                    if stop_after.next().unwrap_or(false) {
                        break;
                    }
                }
                drop(taken);
                if !framer.may_hold_packets() {
                    break;
                }
            }
        }
        prop_assert_eq!(&got, &packets);
        prop_assert!(framer.is_empty());
        prop_assert!(!framer.may_hold_packets());
    }
}

#[test]
fn three_x_publish_body_is_the_wire_bytes() {
    // A QoS 0 3.1.1 PUBLISH: the body is the variable header and payload.
    let bytes = b"\x30\x07\x00\x03a/bhi";
    let Ok(Decoded::Packet(Packet::Publish(p), 9)) = decode(bytes, ProtocolVersion::V3_1_1, MAX)
    else {
        panic!("not a publish");
    };
    assert_eq!(p.body.topic_part(), &bytes[2..7]);
    assert_eq!(p.body.payload_part(), &bytes[7..]);
}

//! A client certificate's subject as a username: its first common name
//! (`use_identity_as_username`) or the whole distinguished name in RFC 2253
//! form, byte for byte as mosquitto prints it with OpenSSL's
//! `X509_NAME_print_ex(.., XN_FLAG_RFC2253)` (`use_subject_as_username`):
//! the RDNs last to first, `,` between them and `+` inside one, OpenSSL's
//! short attribute names (dotted OIDs for the others), `,+"\<>;` escaped
//! with a backslash, a leading `#` or space and a trailing space too,
//! control characters and every byte of a non-ASCII character as `\XX`,
//! and a value of a type that is no string as `#` and its DER in hex.
//!
//! Sans-IO and allocation-light: a small DER walker over the certificate
//! rustls has already verified; anything it cannot read gives `None`
//! (the CONNECT is then refused, as mosquitto refuses a certificate
//! without a usable name). It never panics, whatever the bytes.

use std::fmt::Write;

/// DER tags used here.
const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const VERSION: u8 = 0xa0;

/// id-at-commonName, 2.5.4.3.
const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];

/// The first CN of the certificate's subject, when it is a string without
/// NUL in valid UTF-8 (an MQTT username must be; mosquitto refuses a CN
/// with a NUL in it).
pub(crate) fn common_name(certificate: &[u8]) -> Option<String> {
    let mut name = subject(certificate)?;
    while !name.is_empty() {
        let (rdn, rest) = take(name, SET)?;
        name = rest;
        let mut rdn = rdn;
        while !rdn.is_empty() {
            let (atv, rest) = take(rdn, SEQUENCE)?;
            rdn = rest;
            let (oid, value) = take(atv, OID)?;
            if oid == COMMON_NAME {
                let (tag, content, _) = tlv(value)?;
                return utf8_text(tag, content);
            }
        }
    }
    None
}

/// The certificate's subject in RFC 2253 form, as OpenSSL prints it.
pub(crate) fn rfc2253(certificate: &[u8]) -> Option<String> {
    let mut name = subject(certificate)?;
    // (set index, type, value's whole DER) in stored order.
    let mut entries = Vec::new();
    let mut set = 0usize;
    while !name.is_empty() {
        let (rdn, rest) = take(name, SET)?;
        name = rest;
        let mut rdn = rdn;
        while !rdn.is_empty() {
            let (atv, rest) = take(rdn, SEQUENCE)?;
            rdn = rest;
            let (oid, value) = take(atv, OID)?;
            entries.push((set, oid, value));
        }
        set += 1;
    }
    let mut out = String::new();
    let mut previous_set = None;
    for (set, oid, value) in entries.into_iter().rev() {
        match previous_set {
            None => {}
            Some(p) if p == set => out.push('+'),
            Some(_) => out.push(','),
        }
        previous_set = Some(set);
        attribute_name(oid, &mut out)?;
        out.push('=');
        attribute_value(value, &mut out)?;
    }
    Some(out)
}

/// The subject Name's content: the SEQUENCE OF RDN inside TBSCertificate.
fn subject(certificate: &[u8]) -> Option<&[u8]> {
    let (cert, _) = take(certificate, SEQUENCE)?;
    let (tbs, _) = take(cert, SEQUENCE)?;
    let mut rest = tbs;
    if rest.first() == Some(&VERSION) {
        rest = tlv(rest)?.2;
    }
    // serialNumber, signature, issuer, validity; then the subject.
    for _ in 0..4 {
        rest = tlv(rest)?.2;
    }
    take(rest, SEQUENCE).map(|(subject, _)| subject)
}

/// One TLV: (tag, content, what follows). Definite lengths up to 4 bytes.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let length = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 {
            return None;
        }
        let mut length = 0usize;
        for _ in 0..count {
            let (&byte, after) = rest.split_first()?;
            length = length.checked_mul(256)?.checked_add(usize::from(byte))?;
            rest = after;
        }
        length
    };
    let content = rest.get(..length)?;
    let after = rest.get(length..)?;
    Some((tag, content, after))
}

/// A TLV that must have `tag`: (content, what follows).
fn take(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    match tlv(input)? {
        (t, content, rest) if t == tag => Some((content, rest)),
        _ => None,
    }
}

/// UTF8String, PrintableString, T61String and IA5String as text: the
/// bytes as they are, when they are UTF-8 without NUL.
fn utf8_text(tag: u8, content: &[u8]) -> Option<String> {
    if !matches!(tag, 0x0c | 0x13 | 0x14 | 0x16) || content.contains(&0) {
        return None;
    }
    String::from_utf8(content.to_vec()).ok()
}

/// OpenSSL's short name of an attribute type, or the dotted OID.
fn attribute_name(oid: &[u8], out: &mut String) -> Option<()> {
    let short = match oid {
        [0x55, 0x04, n] => match n {
            3 => Some("CN"),
            4 => Some("SN"),
            5 => Some("serialNumber"),
            6 => Some("C"),
            7 => Some("L"),
            8 => Some("ST"),
            9 => Some("street"),
            10 => Some("O"),
            11 => Some("OU"),
            12 => Some("title"),
            13 => Some("description"),
            15 => Some("businessCategory"),
            17 => Some("postalCode"),
            41 => Some("name"),
            42 => Some("GN"),
            43 => Some("initials"),
            44 => Some("generationQualifier"),
            46 => Some("dnQualifier"),
            65 => Some("pseudonym"),
            97 => Some("organizationIdentifier"),
            _ => None,
        },
        // 1.2.840.113549.1.9.1
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01] => Some("emailAddress"),
        // 0.9.2342.19200300.100.1.25 and .1
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19] => Some("DC"),
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01] => Some("UID"),
        _ => None,
    };
    match short {
        Some(name) => out.push_str(name),
        None => dotted_oid(oid, out)?,
    }
    Some(())
}

fn dotted_oid(oid: &[u8], out: &mut String) -> Option<()> {
    let mut arcs = Vec::new();
    let mut arc: u64 = 0;
    for &byte in oid {
        arc = arc.checked_mul(128)?.checked_add(u64::from(byte & 0x7f))?;
        if byte & 0x80 == 0 {
            arcs.push(arc);
            arc = 0;
        }
    }
    let (&first, rest) = arcs.split_first()?;
    let (a, b) = match first {
        0..=39 => (0, first),
        40..=79 => (1, first - 40),
        _ => (2, first - 80),
    };
    let _ = write!(out, "{a}.{b}");
    for arc in rest {
        let _ = write!(out, ".{arc}");
    }
    Some(())
}

/// A value: a string type converted to UTF-8 and escaped, anything else
/// `#` and its DER in hex (ASN1_STRFLGS_RFC2253).
fn attribute_value(value: &[u8], out: &mut String) -> Option<()> {
    let (tag, content, after) = tlv(value)?;
    let chars: Vec<u32> = match tag {
        // UTF8String
        0x0c => std::str::from_utf8(content)
            .ok()?
            .chars()
            .map(u32::from)
            .collect(),
        // Numeric, Printable, T61, IA5, UTCTime, GeneralizedTime, ISO64: a byte a character.
        0x12 | 0x13 | 0x14 | 0x16 | 0x17 | 0x18 | 0x1a => {
            content.iter().map(|&b| u32::from(b)).collect()
        }
        // BMPString: UCS-2, big-endian.
        0x1e => content
            .chunks(2)
            .map(|c| match c {
                [hi, lo] => Some(u32::from(*hi) << 8 | u32::from(*lo)),
                _ => None,
            })
            .collect::<Option<_>>()?,
        // UniversalString: UCS-4, big-endian.
        0x1c => content
            .chunks(4)
            .map(|c| match c {
                [a, b, c, d] => Some(u32::from_be_bytes([*a, *b, *c, *d])),
                _ => None,
            })
            .collect::<Option<_>>()?,
        _ => {
            let whole = value.get(..value.len().checked_sub(after.len())?)?;
            out.push('#');
            for byte in whole {
                let _ = write!(out, "{byte:02X}");
            }
            return Some(());
        }
    };
    let last = chars.len().checked_sub(1);
    for (i, &c) in chars.iter().enumerate() {
        let ch = char::from_u32(c)?;
        let mut utf8 = [0u8; 4];
        let bytes = ch.encode_utf8(&mut utf8).as_bytes();
        if bytes.len() > 1 {
            for byte in bytes {
                let _ = write!(out, "\\{byte:02X}");
            }
            continue;
        }
        let escaped_as_is = matches!(ch, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (ch == '#' || ch == ' '))
            || (Some(i) == last && ch == ' ');
        if escaped_as_is {
            out.push('\\');
            out.push(ch);
        } else if ch.is_ascii_control() {
            let _ = write!(out, "\\{c:02X}");
        } else {
            out.push(ch);
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DER of one TLV (short or two-byte lengths are enough here).
    fn der(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        if content.len() < 128 {
            out.push(content.len() as u8);
        } else {
            out.extend([0x82, (content.len() >> 8) as u8, content.len() as u8]);
        }
        out.extend_from_slice(content);
        out
    }

    fn atv(oid: &[u8], tag: u8, value: &[u8]) -> Vec<u8> {
        der(SEQUENCE, &[der(OID, oid), der(tag, value)].concat())
    }

    /// A certificate skeleton around `subject` RDNs (each a list of ATVs).
    fn certificate(rdns: &[Vec<Vec<u8>>]) -> Vec<u8> {
        let name: Vec<u8> = rdns
            .iter()
            .flat_map(|rdn| der(SET, &rdn.concat()))
            .collect();
        let tbs = [
            der(VERSION, &der(0x02, &[2])),
            der(0x02, &[1, 2, 3]),
            der(SEQUENCE, &der(OID, &[0x2a, 0x86, 0x48])),
            der(SEQUENCE, &[]),
            der(SEQUENCE, &[]),
            der(SEQUENCE, &name),
            der(SEQUENCE, &[]),
        ]
        .concat();
        der(
            SEQUENCE,
            &[der(SEQUENCE, &tbs), der(SEQUENCE, &[])].concat(),
        )
    }

    const C: &[u8] = &[0x55, 0x04, 0x06];
    const O: &[u8] = &[0x55, 0x04, 0x0a];

    #[test]
    fn common_name_and_subject() {
        let cert = certificate(&[
            vec![atv(C, 0x13, b"DE")],
            vec![atv(O, 0x0c, b"Acme, Inc.")],
            vec![atv(COMMON_NAME, 0x0c, b"sensor-7")],
        ]);
        assert_eq!(common_name(&cert).as_deref(), Some("sensor-7"));
        assert_eq!(
            rfc2253(&cert).as_deref(),
            Some("CN=sensor-7,O=Acme\\, Inc.,C=DE")
        );
    }

    #[test]
    fn escapes_as_openssl_does() {
        let cert = certificate(&[
            vec![
                atv(COMMON_NAME, 0x0c, " #a+b=c\"<>;\\ ".as_bytes()),
                atv(O, 0x0c, "Café\u{1}".as_bytes()),
            ],
            vec![atv(&[0x2a, 0x03, 0x04], 0x04, &[0xab])],
        ]);
        assert_eq!(
            rfc2253(&cert).as_deref(),
            Some("1.2.3.4=#0401AB,O=Caf\\C3\\A9\\01+CN=\\ #a\\+b=c\\\"\\<\\>\\;\\\\\\ ")
        );
    }

    #[test]
    fn no_cn_no_name() {
        let cert = certificate(&[vec![atv(O, 0x0c, b"Acme")]]);
        assert_eq!(common_name(&cert), None);
        assert_eq!(rfc2253(&cert).as_deref(), Some("O=Acme"));
        let nul = certificate(&[vec![atv(COMMON_NAME, 0x0c, b"a\0b")]]);
        assert_eq!(common_name(&nul), None);
        let bmp = certificate(&[vec![atv(COMMON_NAME, 0x1e, &[0, b'h', 0, b'i'])]]);
        assert_eq!(common_name(&bmp), None);
        assert_eq!(rfc2253(&bmp).as_deref(), Some("CN=hi"));
    }

    #[test]
    fn garbage_is_none_never_a_panic() {
        let cert = certificate(&[vec![atv(COMMON_NAME, 0x0c, b"x")]]);
        for cut in 0..cert.len() {
            let _ = common_name(&cert[..cut]);
            let _ = rfc2253(&cert[..cut]);
        }
        for i in 0..cert.len() {
            let mut bad = cert.clone();
            bad[i] ^= 0xff;
            let _ = common_name(&bad);
            let _ = rfc2253(&bad);
        }
        assert_eq!(common_name(&[]), None);
        assert_eq!(rfc2253(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
    }
}

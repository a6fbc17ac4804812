//! The file format and the rules of docs/security.md, "Access control",
//! through the public checks.

use super::*;

fn acl(text: &str) -> Acl {
    match Acl::parse(text, "acl") {
        Ok((acl, _)) => acl,
        Err(e) => panic!("{e}"),
    }
}

fn who<'a>(client_id: &'a str, username: Option<&'a str>) -> Who<'a> {
    Who {
        client_id,
        username,
    }
}

fn can(acl: &Acl, who: &Who<'_>, topic: &str, access: Access) -> bool {
    Rules::File(acl).permits(who, topic, access)
}

const ANON: Who<'static> = Who {
    client_id: "c1",
    username: None,
};

#[test]
fn access_words_and_the_default() {
    let a = acl("topic read r/#\ntopic write w/#\ntopic readwrite rw/#\ntopic both/#\n");
    assert!(can(&a, &ANON, "r/x", Access::Read));
    assert!(!can(&a, &ANON, "r/x", Access::Write));
    assert!(!can(&a, &ANON, "w/x", Access::Read));
    assert!(can(&a, &ANON, "w/x", Access::Write));
    for topic in ["rw/x", "both/x"] {
        assert!(can(&a, &ANON, topic, Access::Read));
        assert!(can(&a, &ANON, topic, Access::Write));
    }
    assert!(!can(&a, &ANON, "other", Access::Read));
}

#[test]
fn sections_anonymous_users_and_patterns() {
    let a = acl("# anonymous\n\ntopic read public/#\n\
                 user alice\ntopic readwrite alice/#\n\
                 pattern write devices/%c/#\npattern read users/%u/#\n\
                 user bob\ntopic read bob/#\n");
    let alice = who("a1", Some("alice"));
    let bob = who("b1", Some("bob"));
    let carol = who("c1", Some("carol"));
    assert!(can(&a, &ANON, "public/x", Access::Read));
    assert!(!can(&a, &alice, "public/x", Access::Read));
    assert!(can(&a, &alice, "alice/x", Access::Write));
    assert!(!can(&a, &bob, "alice/x", Access::Read));
    assert!(can(&a, &bob, "bob/x", Access::Read));
    // Patterns apply to every client, wherever they stand in the file.
    for w in [ANON, alice, bob, carol] {
        let own = format!("devices/{}/t", w.client_id);
        assert!(can(&a, &w, &own, Access::Write), "{w:?}");
        assert!(!can(&a, &w, "devices/other/t", Access::Write), "{w:?}");
    }
    assert!(can(&a, &carol, "users/carol/x", Access::Read));
    assert!(!can(&a, &carol, "users/alice/x", Access::Read));
    // %u needs a username.
    assert!(!can(&a, &ANON, "users//x", Access::Read));
}

#[test]
fn deny_wins_over_any_grant() {
    let a = acl("topic readwrite #\ntopic deny secret/#\n\
                 user u\ntopic readwrite #\npattern deny private/%c\n");
    assert!(can(&a, &ANON, "open", Access::Write));
    assert!(!can(&a, &ANON, "secret/x", Access::Read));
    assert!(!can(&a, &ANON, "secret", Access::Write));
    let u = who("me", Some("u"));
    assert!(can(&a, &u, "private/other", Access::Read));
    // A pattern's deny beats the user's own grant.
    assert!(!can(&a, &u, "private/me", Access::Read));
    // Deny first, whatever the order in the file.
    let b = acl("topic deny a/b\ntopic readwrite a/#\n");
    assert!(!can(&b, &ANON, "a/b", Access::Read));
    assert!(can(&b, &ANON, "a/c", Access::Read));
}

#[test]
fn dollar_topics_need_rules_of_their_own() {
    let a = acl("topic readwrite #\ntopic read $SYS/broker/#\n");
    assert!(!can(&a, &ANON, "$SYS/x", Access::Read));
    assert!(can(&a, &ANON, "$SYS/broker/load", Access::Read));
    let b = acl("topic +/x\n");
    assert!(!can(&b, &ANON, "$x/x", Access::Read));
}

#[test]
fn identities_that_cannot_be_a_level() {
    let a =
        acl("pattern readwrite devices/%c/#\npattern deny locked/%u/#\ntopic readwrite locked/#\n");
    for id in ["a/b", "+", "#", "x+"] {
        let w = who(id, None);
        assert!(
            !can(&a, &w, &format!("devices/{id}/t"), Access::Write),
            "{id}"
        );
        assert!(!can(&a, &w, "devices/a/b/t", Access::Write), "{id}");
    }
    // A deny template the username cannot fill refuses all below it.
    let anon = who("c", None);
    assert!(can(&a, &anon, "locked/x/y", Access::Read));
    let b = acl("pattern deny locked/%u/#\nuser a/b\ntopic readwrite locked/#\n");
    let odd = who("c", Some("a/b"));
    assert!(!can(&b, &odd, "locked/zzz/y", Access::Read));
    assert!(can(&b, &odd, "locked", Access::Read));
}

#[test]
fn templates_inside_a_level_and_topic_lines_are_literal() {
    let a = acl("pattern read stat/%u-%c\ntopic read lit/%c\n");
    let w = who("dev", Some("ann"));
    assert!(can(&a, &w, "stat/ann-dev", Access::Read));
    assert!(!can(&a, &w, "stat/ann-dex", Access::Read));
    assert!(can(&a, &ANON, "lit/%c", Access::Read));
    assert!(!can(&a, &ANON, "lit/c1", Access::Read));
}

#[test]
fn subscriptions() {
    use SubscribeVerdict::*;
    let a = acl(
        "topic read a/#\ntopic read b/+/c\ntopic readwrite x/#\ntopic deny x/secret/#\n\
                 topic write w/#\ntopic deny test/nosubscribe\ntopic read test/#\n",
    );
    let sub = |f: &str| Rules::File(&a).subscription(&ANON, f);
    let clean = Allowed {
        check_deliveries: false,
    };
    assert_eq!(sub("a/#"), clean);
    assert_eq!(sub("a/b/+"), clean);
    assert_eq!(sub("a"), clean);
    assert_eq!(sub("b/z/c"), clean);
    assert_eq!(sub("b/+/c"), clean);
    assert_eq!(sub("b/#"), Refused);
    // Only a/# is readable: `#` is refused, not filtered.
    assert_eq!(sub("#"), Refused);
    assert_eq!(sub("w/x"), Refused);
    // A deny inside an allowed filter: allowed, deliveries checked.
    assert_eq!(
        sub("x/#"),
        Allowed {
            check_deliveries: true
        }
    );
    assert_eq!(sub("x/+/y"), sub("x/#"));
    assert_eq!(sub("x/open/#"), clean);
    assert_eq!(sub("x/secret/#"), Refused);
    assert_eq!(sub("x/secret/a"), Refused);
    assert_eq!(sub("test/nosubscribe"), Refused);
    assert_eq!(sub("test/other"), clean);
}

#[test]
fn parse_errors_name_file_and_line() {
    let cases = [
        (
            "topic read a\nbogus line\n",
            2,
            "unknown line \"bogus line\"",
        ),
        ("user\n", 1, "missing user name"),
        ("topic\n", 1, "missing topic filter"),
        ("\n\ntopic maybe a/b\n", 3, "expected read, write"),
        ("topic read a/#/b\n", 1, "not a valid topic filter"),
        ("pattern write a+\n", 1, "not a valid topic filter"),
    ];
    for (text, line, message) in cases {
        let e = Acl::parse(text, "my.acl").err().unwrap();
        assert_eq!((e.file.as_str(), e.line), ("my.acl", line), "{text:?}: {e}");
        assert!(e.message.contains(message), "{text:?}: {e}");
    }
    let deep = format!("topic {}\n", vec!["a"; 300].join("/"));
    assert!(Acl::parse(&deep, "my.acl").is_err());
}

#[test]
fn mosquitto_spellings() {
    // A lone word is the filter; a filter may hold spaces; `user` takes
    // the rest of the line; leading blanks and a BOM are fine.
    let (a, warnings) = Acl::parse(
        "\u{feff}topic read\n  topic read with space/#\nuser John Smith\n  topic j/#\npattern x/y\n",
        "m.acl",
    )
    .unwrap();
    assert!(can(&a, &ANON, "read", Access::Write));
    assert!(can(&a, &ANON, "with space/x", Access::Read));
    let john = who("j", Some("John Smith"));
    assert!(can(&a, &john, "j/x", Access::Write));
    assert_eq!(a.rule_count(), 4);
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].starts_with("m.acl:5: pattern"), "{warnings:?}");
}

#[test]
fn client_rules_replace_the_file() {
    let a = acl("topic readwrite #\n");
    let own = ClientRules::new(
        &["devices/%c/up"],
        &["devices/%c/down/#", "public/#"],
        &crate::topic::TopicLimits::DEFAULT,
    )
    .unwrap();
    let w = who("d7", Some("jwt-user"));
    let rules = Rules::Own(&own);
    assert!(rules.permits(&w, "devices/d7/up", Access::Write));
    assert!(!rules.permits(&w, "devices/d7/up", Access::Read));
    assert!(rules.permits(&w, "devices/d7/down/x", Access::Read));
    assert!(!rules.permits(&w, "other", Access::Write));
    let anonymous = who("d7", None);
    assert!(Rules::File(&a).permits(&anonymous, "other", Access::Write));
    assert_eq!(
        rules.subscription(&w, "public/+"),
        SubscribeVerdict::Allowed {
            check_deliveries: false
        }
    );
    assert_eq!(rules.subscription(&w, "#"), SubscribeVerdict::Refused);
    let limits = crate::topic::TopicLimits::DEFAULT;
    assert!(ClientRules::new(&["a/#/b"], &[], &limits).is_err());
    let many = vec!["a"; MAX_FILTERS + 1];
    assert!(ClientRules::new(&[], &many, &limits).is_err());
}

const MAX_FILTERS: usize = client_rules::MAX_CLIENT_FILTERS;

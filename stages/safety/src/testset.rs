//! A labelled PII test set built from real text: English Wikipedia
//! paragraphs (WikiText-2) and Chinese web/news documents (CLUECorpusSmall)
//! from `../shared/data`, with PII of every kind inserted in realistic
//! formats and context phrases, and hard negatives (versions, dates, order
//! numbers, ISBNs, prices, math, private IPs, UUIDs, numbers failing their
//! checksums) inserted the same way. [`evaluate`] scores a [`Pii`] stage on
//! it per kind. Used by `tests/pii_testset.rs` (which asserts the targets)
//! and `examples/pii_eval.rs` (which prints the table).
//!
//! Detections in the *original* text (real addresses or numbers already
//! there) are not labelled by us; they are reported apart as `background`
//! and counted neither way.

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::pii::{cn_id_check, luhn, Pii, PiiKind};

/// The shared data directory: `SLUICE_TEST_DATA`, else `../shared/data`
/// from the repository root.
pub fn data_dir() -> PathBuf {
    match std::env::var_os("SLUICE_TEST_DATA") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    }
}

/// A deterministic generator (splitmix64).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    #[allow(clippy::should_implement_trait)] // an endless generator, not an iterator
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    fn digits(&mut self, n: usize) -> String {
        (0..n).map(|_| char::from(b'0' + self.below(10) as u8)).collect()
    }
    fn chars_from(&mut self, set: &[u8], n: usize) -> String {
        (0..n).map(|_| *self.pick(set) as char).collect()
    }
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const UPPER_DIGITS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const LETTERS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn to_fullwidth(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_digit() { char::from_u32(c as u32 + 0xFEE0).expect("full-width digit") } else { c }).collect()
}

/// A generated value, and the part of it that is the PII (url credentials
/// label only `user:password`).
pub struct Gen {
    pub value: String,
    pub span: Range<usize>,
}

fn whole(v: String) -> Gen {
    let n = v.len();
    Gen { value: v, span: 0..n }
}

const FIRST: &[&str] =
    &["john", "mary", "wei", "li", "anna", "james", "olga", "pierre", "sofia", "ahmed", "yuki", "carlos", "emma", "zhang", "chen", "david"];
const LAST: &[&str] =
    &["smith", "wang", "garcia", "mueller", "liu", "johnson", "rossi", "kim", "dubois", "novak", "tanaka", "brown", "zhao", "lee"];
const DOMAINS: &[&str] = &[
    "gmail.com",
    "yahoo.co.uk",
    "qq.com",
    "163.com",
    "outlook.com",
    "mail.ru",
    "company.io",
    "uni-heidelberg.de",
    "cs.stanford.edu",
    "example-corp.com.cn",
    "sina.com.cn",
    "protonmail.ch",
];

pub fn gen_email(r: &mut Rng, zh: bool) -> Gen {
    let f = r.pick(FIRST);
    let l = r.pick(LAST);
    let local = match r.below(5) {
        0 => format!("{f}.{l}"),
        1 => format!("{f}{}", r.range(1, 9999)),
        2 => format!("{f}_{l}{}", r.range(60, 99)),
        3 => format!("{}{l}+news", &f[..1]),
        _ => format!("{f}-{l}"),
    };
    let at = if zh && r.chance(0.2) { "＠" } else { "@" };
    whole(format!("{local}{at}{}", r.pick(DOMAINS)))
}

pub fn gen_phone(r: &mut Rng, zh: bool) -> Gen {
    let cn = format!("1{}{}", r.range(3, 9), r.digits(9));
    let (a, b, c) = (&cn[..3], &cn[3..7], &cn[7..]);
    // a NANP area code: N (2-9), a middle digit 0-8 (N9X is reserved), not N11
    let area = loop {
        let a = format!("{}{}{}", r.range(2, 9), r.range(0, 8), r.below(10));
        if &a[1..] != "11" {
            break a;
        }
    };
    let exch = format!("{}{}", r.range(2, 9), r.digits(2));
    let line = r.digits(4);
    let v = match r.below(if zh { 8 } else { 14 }) {
        0 => cn.clone(),
        1 => format!("+86 {a} {b} {c}"),
        2 => format!("{a}-{b}-{c}"),
        3 => format!("+86-{cn}"),
        4 => format!("{a} {b} {c}"),
        5 => to_fullwidth(&cn),
        6 => format!("0086 {cn}"),
        7 => format!("+86{cn}"),
        8 => format!("({area}) {exch}-{line}"),
        9 => format!("{area}-{exch}-{line}"),
        10 => format!("+1 {area} {exch} {line}"),
        11 => format!("{area}.{exch}.{line}"),
        12 => format!("+1-{area}-{exch}-{line}"),
        _ => match r.below(5) {
            0 => format!("+44 20 {} {}", r.digits(4), r.digits(4)),
            1 => format!("+49 30 {}", r.digits(8)),
            2 => format!("+33 1 {} {} {} {}", r.digits(2), r.digits(2), r.digits(2), r.digits(2)),
            3 => format!("+81 3-{}-{}", r.digits(4), r.digits(4)),
            _ => format!("+91 9{} {}", r.digits(4), r.digits(5)),
        },
    };
    whole(v)
}

pub fn gen_public_ipv4(r: &mut Rng) -> [u8; 4] {
    loop {
        let o = [r.range(1, 223) as u8, r.below(256) as u8, r.below(256) as u8, r.range(1, 254) as u8];
        if crate::pii::ipv4_is_public(o) {
            return o;
        }
    }
}

pub fn gen_ip(r: &mut Rng) -> Gen {
    if r.chance(0.7) {
        let o = gen_public_ipv4(r);
        whole(format!("{}.{}.{}.{}", o[0], o[1], o[2], o[3]))
    } else {
        let first = *r.pick(&[0x2001u16, 0x2400, 0x2600, 0x2a00, 0x2a03, 0x2604, 0x2406]);
        let second = loop {
            let s = r.below(0x10000) as u16;
            if !(first == 0x2001 && s < 0x0200) {
                break s;
            }
        };
        let mut segs = vec![first, second];
        segs.extend((0..6).map(|_| r.below(0x10000) as u16));
        if r.chance(0.5) {
            segs[3] = 0;
            segs[4] = 0;
            segs[5] = 0;
        }
        let a = std::net::Ipv6Addr::new(segs[0], segs[1], segs[2], segs[3], segs[4], segs[5], segs[6], segs[7]);
        whole(a.to_string())
    }
}

fn with_luhn(prefix: &str, len: usize, r: &mut Rng) -> String {
    let mut s = format!("{prefix}{}", r.digits(len - prefix.len() - 1));
    for d in 0..10 {
        let cand = format!("{s}{d}");
        let ds: Vec<u8> = cand.bytes().map(|b| b - b'0').collect();
        if luhn(&ds) {
            s = cand;
            break;
        }
    }
    s
}

fn group(s: &str, sizes: &[usize], sep: &str) -> String {
    let mut out = Vec::new();
    let mut at = 0;
    for &n in sizes {
        if at >= s.len() {
            break;
        }
        let e = (at + n).min(s.len());
        out.push(&s[at..e]);
        at = e;
    }
    if at < s.len() {
        out.push(&s[at..]);
    }
    out.join(sep)
}

/// A valid card number (brand prefix, length, Luhn), formatted.
pub fn gen_card(r: &mut Rng) -> Gen {
    let (prefix, len): (String, usize) = match r.below(7) {
        0 => ("4".into(), 16),
        1 => (format!("5{}", r.range(1, 5)), 16),
        2 => (format!("{}", r.range(2221, 2720)), 16),
        3 => (r.pick(&["34", "37"]).to_string(), 15),
        4 => ("6011".into(), 16),
        5 => (format!("35{}", r.range(28, 89)), 16),
        _ => ("62".into(), *r.pick(&[16usize, 19])),
    };
    let n = with_luhn(&prefix, len, r);
    let v = if len == 15 {
        match r.below(3) {
            0 => n,
            1 => group(&n, &[4, 6, 5], " "),
            _ => group(&n, &[4, 6, 5], "-"),
        }
    } else {
        match r.below(3) {
            0 => n,
            1 => group(&n, &[4, 4, 4, 4], " "),
            _ => group(&n, &[4, 4, 4, 4], "-"),
        }
    };
    whole(v)
}

fn iban_check(country: &str, bban: &str) -> String {
    let mut rem = 0u32;
    for c in bban.bytes().chain(country.bytes()).chain(*b"00") {
        match c {
            b'0'..=b'9' => rem = (rem * 10 + (c - b'0') as u32) % 97,
            _ => rem = (rem * 100 + (c - b'A' + 10) as u32) % 97,
        }
    }
    format!("{:02}", 98 - rem)
}

pub fn gen_iban(r: &mut Rng) -> Gen {
    let (cc, bban) = match r.below(7) {
        0 => ("DE", r.digits(18)),
        1 => ("GB", format!("{}{}", r.chars_from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", 4), r.digits(14))),
        2 => ("FR", r.digits(23)),
        3 => ("NL", format!("{}{}", r.chars_from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", 4), r.digits(10))),
        4 => ("ES", r.digits(20)),
        5 => ("IT", format!("{}{}", r.chars_from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", 1), r.digits(22))),
        _ => ("CH", r.digits(17)),
    };
    let compact = format!("{cc}{}{bban}", iban_check(cc, &bban));
    whole(if r.chance(0.5) { compact.clone() } else { group(&compact, &[4, 4, 4, 4, 4, 4, 4, 4], " ") })
}

pub fn gen_ssn(r: &mut Rng) -> Gen {
    let area = loop {
        let a = r.range(1, 899);
        if a != 666 {
            break a;
        }
    };
    whole(format!("{area:03}-{:02}-{:04}", r.range(1, 99), r.range(1, 9999)))
}

const PROVINCES: &[u32] =
    &[11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65];

pub fn gen_cn_id(r: &mut Rng) -> Gen {
    let y = r.range(1940, 2008);
    let m = r.range(1, 12);
    let d = r.range(1, 28);
    let first17 = format!("{}{}{y}{m:02}{d:02}{}", r.pick(PROVINCES), r.digits(4), r.digits(3));
    let ds: Vec<u8> = first17.bytes().map(|b| b - b'0').collect();
    let id = format!("{first17}{}", cn_id_check(&ds));
    whole(if r.chance(0.1) { to_fullwidth(&id) } else { id })
}

pub fn gen_secret(r: &mut Rng) -> Gen {
    let v = match r.below(9) {
        0 => format!("AKIA{}", r.chars_from(UPPER_DIGITS, 16)),
        1 => format!("ghp_{}", r.chars_from(ALNUM, 36)),
        2 => format!("sk_live_{}", r.chars_from(ALNUM, 24)),
        3 => format!("xoxb-{}-{}-{}", r.digits(11), r.digits(13), r.chars_from(ALNUM, 24)),
        4 => format!("AIza{}", r.chars_from(ALNUM, 35)),
        5 => format!("hf_{}", r.chars_from(LETTERS, 34)),
        6 => format!("glpat-{}", r.chars_from(ALNUM, 20)),
        7 => {
            let kind = r.pick(&["RSA ", "EC ", "OPENSSH ", ""]);
            let lines: Vec<String> = (0..r.range(2, 6)).map(|_| r.chars_from(B64, 64)).collect();
            format!("-----BEGIN {kind}PRIVATE KEY-----\n{}\n-----END {kind}PRIVATE KEY-----", lines.join("\n"))
        }
        _ => format!("eyJ{}.eyJ{}.{}", r.chars_from(ALNUM, 20), r.chars_from(ALNUM, 40), r.chars_from(ALNUM, 43)),
    };
    whole(v)
}

pub fn gen_url_credentials(r: &mut Rng) -> Gen {
    let user = format!("{}{}", r.pick(FIRST), if r.chance(0.5) { r.digits(2) } else { String::new() });
    let len = r.range(6, 14) as usize;
    let pw = format!("{}{}", r.chars_from(ALNUM, len), r.digits(2));
    let (scheme, host) = *r.pick(&[
        ("https", "git.example-corp.com/repo.git"),
        ("ftp", "ftp.files.net/pub"),
        ("postgres", "db.internal.net:5432/app"),
        ("http", "192.0.2.10:8080/admin"),
        ("mongodb+srv", "cluster0.mongodb.net/test"),
        ("redis", "cache.prod.io:6379"),
    ]);
    let prefix = format!("{scheme}://");
    let cred = format!("{user}:{pw}");
    let v = format!("{prefix}{cred}@{host}");
    Gen { span: prefix.len()..prefix.len() + cred.len(), value: v }
}

/// Context phrases (`{}` is the value), English then Chinese.
fn templates(kind: PiiKind, zh: bool) -> &'static [&'static str] {
    match (kind, zh) {
        (PiiKind::Email, false) => &["Contact me at {} for details.", "email: {}", "(send your CV to {})", "Reply to {}."],
        (PiiKind::Email, true) => &["联系邮箱：{}。", "请发送简历至{}", "邮箱{}，欢迎来信"],
        (PiiKind::Phone, false) => &["Call {} for bookings.", "Tel: {}", "phone {}, fax none", "(mobile: {})"],
        (PiiKind::Phone, true) => &["联系电话：{}。", "手机{}，微信同号", "咨询热线 {} ", "电话：{}"],
        (PiiKind::Ip, false) => &["Requests came from {} last night.", "server IP: {}", "ping {} to test", "(client {})"],
        (PiiKind::Ip, true) => &["服务器地址：{}。", "访问IP为{}", "来自{}的请求"],
        (PiiKind::CreditCard, false) => &["Card number: {} exp 04/27", "paid with {}.", "my card {} was charged"],
        (PiiKind::CreditCard, true) => &["信用卡号：{}，", "银行卡{}已绑定", "卡号 {} "],
        (PiiKind::Iban, false) => &["IBAN: {}", "Please transfer to {} by Friday.", "account {} (Sparkasse)"],
        (PiiKind::Iban, true) => &["国际银行账号：{}。", "汇款至IBAN {}"],
        (PiiKind::UsSsn, false) => &["SSN: {}", "social security number {}.", "(SSN {})"],
        (PiiKind::UsSsn, true) => &["社会安全号码：{}。", "SSN {}，"],
        (PiiKind::CnId, false) => &["Chinese ID card {}.", "ID no. {}"],
        (PiiKind::CnId, true) => &["身份证号：{}。", "身份证号码{}，", "公民身份号码 {} "],
        (PiiKind::Secret, false) => &["aws_access_key_id = {}", "export TOKEN={}\n", "Use the key {} in the header.", "config:\n{}\n"],
        (PiiKind::Secret, true) => &["密钥：{}\n", "把令牌 {} 填入配置", "私钥如下\n{}\n"],
        (PiiKind::UrlCredentials, false) => &["Clone it with git clone {} today.", "DATABASE_URL={}\n", "open {} in a browser"],
        (PiiKind::UrlCredentials, true) => &["连接地址：{} ，", "数据库连接串 {} "],
    }
}

/// Hard negatives: things that look like PII and are not. Returns the
/// text and a category name.
pub fn gen_negative(r: &mut Rng, zh: bool) -> (String, &'static str) {
    let y = r.range(1990, 2025);
    let m = r.range(1, 12);
    let d = r.range(1, 28);
    match r.below(11) {
        0 => {
            let v = match r.below(6) {
                0 => format!("version {}.{}.{}.{}", r.below(20), r.below(20), r.below(100), r.below(300)),
                1 => format!("v{}.{}.{}", r.below(10), r.below(30), r.below(100)),
                2 => format!("Python {}.{}.{}", r.range(2, 3), r.below(13), r.below(20)),
                3 => format!("build {}.{}.{}.{}", r.range(1, 15), r.below(10), r.range(1000, 30000), r.below(2000)),
                4 => format!("Chrome/{}.0.{}.{}", r.range(60, 130), r.range(1000, 7000), r.range(10, 300)),
                _ => format!("版本 {}.{}.{}.{}", r.below(12), r.below(12), r.below(12), r.below(12)),
            };
            (v, "version")
        }
        1 => {
            let v = match r.below(6) {
                0 => format!("{y}-{m:02}-{d:02}"),
                1 => format!("{m:02}/{d:02}/{y}"),
                2 => format!("{d:02}.{m:02}.{y}"),
                3 => format!("{y}年{m}月{d}日"),
                4 => format!("{y}{m:02}{d:02}"),
                _ => format!("{y}-{m:02}-{d:02} {:02}:{:02}:{:02}", r.below(24), r.below(60), r.below(60)),
            };
            (v, "date")
        }
        2 => {
            let v = match r.below(5) {
                0 => format!("Order #{}", r.digits(9)),
                1 => format!("ORD-{y}-{}", r.digits(7)),
                2 => format!("invoice {y}-{}", r.digits(6)),
                3 => format!("订单号：{}{}", y, r.digits(10)),
                _ => format!("tracking 1Z{}{}", r.chars_from(UPPER_DIGITS, 6), r.digits(10)),
            };
            (v, "order_number")
        }
        3 => {
            // a real ISBN-13 with its check digit, hyphenated or not
            let body = format!("978{}", r.digits(9));
            let s: u32 = body.bytes().enumerate().map(|(i, b)| (b - b'0') as u32 * if i % 2 == 0 { 1 } else { 3 }).sum();
            let isbn = format!("{body}{}", (10 - s % 10) % 10);
            let v = if r.chance(0.5) {
                format!("ISBN {isbn}")
            } else {
                format!("ISBN {}-{}-{}-{}-{}", &isbn[..3], &isbn[3..4], &isbn[4..7], &isbn[7..12], &isbn[12..])
            };
            (v, "isbn")
        }
        4 => {
            let v = match r.below(5) {
                0 => format!("${},{:03}.{:02}", r.range(1, 999), r.below(1000), r.below(100)),
                1 => format!("¥{},{:03}", r.range(1, 99), r.below(1000)),
                2 => format!("€ {}.{:02}", r.range(1, 9999), r.below(100)),
                3 => format!("USD {},{:03},{:03}", r.range(1, 99), r.below(1000), r.below(1000)),
                _ => format!("售价{}.{:02}元", r.range(1, 99999), r.below(100)),
            };
            (v, "price")
        }
        5 => {
            let v = match r.below(6) {
                0 => "3.14159265358979323846".to_string(),
                1 => format!("2^{} = {}", r.range(10, 40), r.digits(9)),
                2 => format!("x = {}/{} + {}/{}", r.range(1, 99), r.range(2, 99), r.range(1, 99), r.range(2, 99)),
                3 => "e = 2.718281828459045".to_string(),
                4 => format!("{} + {} = {}", r.digits(4), r.digits(4), r.digits(5)),
                _ => format!("{}.{} × 10^{}", r.range(1, 9), r.digits(8), r.range(2, 30)),
            };
            (v, "math")
        }
        6 => {
            let v = match r.below(7) {
                0 => format!("192.168.{}.{}", r.below(256), r.range(1, 254)),
                1 => format!("10.{}.{}.{}", r.below(256), r.below(256), r.range(1, 254)),
                2 => format!("172.{}.{}.{}", r.range(16, 31), r.below(256), r.range(1, 254)),
                3 => "127.0.0.1".to_string(),
                4 => format!("fe80::{:x}:{:x}:{:x}", r.below(0x10000), r.below(0x10000), r.below(0x10000)),
                5 => format!("2001:db8::{:x}:{:x}", r.below(0x10000), r.below(0x10000)),
                _ => format!("203.0.113.{}", r.range(1, 254)),
            };
            (v, "private_ip")
        }
        7 => {
            let h = |r: &mut Rng, n| r.chars_from(b"0123456789abcdef", n);
            let v = format!("{}-{}-4{}-{}{}-{}", h(r, 8), h(r, 4), h(r, 3), r.pick(&["8", "9", "a", "b"]), h(r, 3), h(r, 12));
            (v, "uuid")
        }
        8 => {
            // a card-shaped number whose Luhn check fails
            let good = with_luhn("4", 16, r);
            let last = (good.as_bytes()[15] - b'0' + r.range(1, 9) as u8) % 10;
            let bad = format!("{}{last}", &good[..15]);
            (if r.chance(0.5) { group(&bad, &[4, 4, 4, 4], " ") } else { bad }, "luhn_fail")
        }
        9 => {
            // an 18-digit ID-shaped number with the wrong check digit
            let g = gen_cn_id(r).value.chars().map(crate::pii::narrow).collect::<String>();
            let last = g.chars().last().expect("18 chars");
            let wrong = if last == '0' { '1' } else { '0' };
            (format!("{}{wrong}", &g[..17]), "cn_id_bad_check")
        }
        _ => {
            let v = match r.below(3) {
                0 => format!("{}{}", if zh { "工单" } else { "ticket " }, r.digits(10)),
                1 => format!("ISSN {}-{}", r.digits(4), r.digits(4)),
                _ => format!("{}×{} px", r.range(100, 4000), r.range(100, 4000)),
            };
            (v, "other_number")
        }
    }
}

fn gen(kind: PiiKind, r: &mut Rng, zh: bool) -> Gen {
    match kind {
        PiiKind::Email => gen_email(r, zh),
        PiiKind::Phone => gen_phone(r, zh),
        PiiKind::Ip => gen_ip(r),
        PiiKind::CreditCard => gen_card(r),
        PiiKind::Iban => gen_iban(r),
        PiiKind::UsSsn => gen_ssn(r),
        PiiKind::CnId => gen_cn_id(r),
        PiiKind::Secret => gen_secret(r),
        PiiKind::UrlCredentials => gen_url_credentials(r),
    }
}

/// One labelled document.
#[derive(Debug, Clone)]
pub struct Labelled {
    pub text: String,
    pub zh: bool,
    /// Inserted PII: kind and byte span.
    pub labels: Vec<(PiiKind, Range<usize>)>,
    /// Inserted hard negatives: category and byte span.
    pub negatives: Vec<(&'static str, Range<usize>)>,
    /// The text before insertion.
    pub original: String,
}

/// Paragraphs of real text: English Wikipedia (WikiText-2 test) paragraphs
/// and Chinese CLUE documents, 200-2000 bytes each.
pub fn real_paragraphs(data: &Path) -> Result<(Vec<String>, Vec<String>), String> {
    let read = |p: PathBuf| std::fs::read_to_string(&p).map_err(|e| format!("cannot read {} (set SLUICE_TEST_DATA): {e}", p.display()));
    let wiki = read(data.join("reference/en/wiki.test.raw"))?;
    let en: Vec<String> =
        wiki.lines().map(str::trim).filter(|l| !l.starts_with('=') && (200..2000).contains(&l.len())).map(String::from).collect();
    let clue = read(data.join("zh/clue-corpus-small.sample.txt"))?;
    let zh: Vec<String> = clue.lines().map(str::trim).filter(|l| (200..2000).contains(&l.len())).map(String::from).collect();
    if en.len() < 100 || zh.len() < 100 {
        return Err(format!("too few paragraphs in {}: {} English, {} Chinese", data.display(), en.len(), zh.len()));
    }
    Ok((en, zh))
}

/// Build the set: `docs_per_lang` documents of each language, each with
/// `per_doc` PII values (kinds in rotation) and one or two hard negatives.
pub fn build(data: &Path, seed: u64, docs_per_lang: usize, per_doc: usize) -> Result<Vec<Labelled>, String> {
    let (en, zh) = real_paragraphs(data)?;
    let mut r = Rng::new(seed);
    let mut out = Vec::new();
    let mut k = 0usize;
    for lang in [false, true] {
        let src = if lang { &zh } else { &en };
        for i in 0..docs_per_lang {
            let para = &src[(i * 7919 + seed as usize) % src.len()];
            // insertion points: after a space or a Chinese/ASCII sentence mark
            let points: Vec<usize> = para
                .char_indices()
                .filter(|&(_, c)| c == ' ' || c == '。' || c == '，' || c == '；')
                .map(|(j, c)| j + c.len_utf8())
                .collect();
            if points.is_empty() {
                continue;
            }
            enum Ins {
                Pii(PiiKind, Gen, &'static str),
                Neg(String, &'static str),
            }
            let mut ins: Vec<(usize, Ins)> = Vec::new();
            for _ in 0..per_doc {
                let kind = PiiKind::ALL[k % PiiKind::ALL.len()];
                k += 1;
                let g = gen(kind, &mut r, lang);
                let t = *r.pick(templates(kind, lang));
                ins.push((*r.pick(&points), Ins::Pii(kind, g, t)));
            }
            for _ in 0..r.range(1, 2) {
                let (v, cat) = gen_negative(&mut r, lang);
                ins.push((*r.pick(&points), Ins::Neg(v, cat)));
            }
            ins.sort_by_key(|(p, _)| *p);
            let mut text = String::with_capacity(para.len() + 400);
            let mut labels = Vec::new();
            let mut negatives = Vec::new();
            let mut at = 0;
            for (p, item) in ins {
                text.push_str(&para[at..p]);
                at = p;
                match item {
                    Ins::Pii(kind, g, t) => {
                        let (pre, post) = t.split_once("{}").expect("template has {}");
                        text.push_str(pre);
                        let base = text.len();
                        text.push_str(&g.value);
                        labels.push((kind, base + g.span.start..base + g.span.end));
                        text.push_str(post);
                        text.push(' ');
                    }
                    Ins::Neg(v, cat) => {
                        text.push_str(if lang { "（" } else { "(" });
                        let base = text.len();
                        text.push_str(&v);
                        negatives.push((cat, base..base + v.len()));
                        text.push_str(if lang { "）" } else { ") " });
                    }
                }
            }
            text.push_str(&para[at..]);
            out.push(Labelled { text, zh: lang, labels, negatives, original: para.clone() });
        }
    }
    Ok(out)
}

/// Per-kind scores.
#[derive(Debug, Clone, Default)]
pub struct KindScore {
    pub tp: usize,
    pub fp: usize,
    pub fn_: usize,
    /// Predicted spans that are exactly the label's span.
    pub exact: usize,
}

impl KindScore {
    pub fn precision(&self) -> f64 {
        if self.tp + self.fp == 0 {
            1.0
        } else {
            self.tp as f64 / (self.tp + self.fp) as f64
        }
    }
    pub fn recall(&self) -> f64 {
        if self.tp + self.fn_ == 0 {
            1.0
        } else {
            self.tp as f64 / (self.tp + self.fn_) as f64
        }
    }
}

/// The outcome of [`evaluate`].
#[derive(Debug, Default)]
pub struct Evaluation {
    pub by_kind: BTreeMap<PiiKind, KindScore>,
    /// Hard negatives by category: (inserted, wrongly scrubbed).
    pub negatives: BTreeMap<&'static str, (usize, usize)>,
    /// Detections of text that was already in the real documents.
    pub background: Vec<(PiiKind, String)>,
    /// Examples of errors: (kind, "FP"/"FN", snippet).
    pub errors: Vec<(PiiKind, &'static str, String)>,
    pub docs: usize,
    pub bytes: usize,
}

fn overlaps(a: &Range<usize>, b: &Range<usize>) -> bool {
    a.start < b.end && b.start < a.end
}

fn snippet(t: &str, r: &Range<usize>) -> String {
    let mut s = r.start.saturating_sub(30);
    while !t.is_char_boundary(s) {
        s -= 1;
    }
    let mut e = (r.end + 30).min(t.len());
    while !t.is_char_boundary(e) {
        e += 1;
    }
    format!("{}[[{}]]{}", &t[s..r.start], &t[r.clone()], &t[r.end..e]).replace('\n', "⏎")
}

pub fn evaluate(pii: &Pii, set: &[Labelled]) -> Evaluation {
    let mut ev = Evaluation { docs: set.len(), ..Default::default() };
    for k in PiiKind::ALL {
        ev.by_kind.insert(k, KindScore::default());
    }
    for d in set {
        ev.bytes += d.text.len();
        let pre: HashSet<(PiiKind, String)> = pii.find(&d.original).into_iter().map(|m| (m.kind, d.original[m.span].to_string())).collect();
        let preds = pii.find(&d.text);
        let mut hit = vec![false; d.labels.len()];
        for p in &preds {
            let mut matched = false;
            for (i, (k, span)) in d.labels.iter().enumerate() {
                if *k == p.kind && overlaps(span, &p.span) {
                    if !hit[i] {
                        let s = ev.by_kind.get_mut(k).expect("kind");
                        s.tp += 1;
                        if *span == p.span {
                            s.exact += 1;
                        }
                    }
                    hit[i] = true;
                    matched = true;
                }
            }
            if matched {
                continue;
            }
            let text = d.text[p.span.clone()].to_string();
            if pre.contains(&(p.kind, text.clone())) && !d.labels.iter().any(|(_, s)| overlaps(s, &p.span)) {
                ev.background.push((p.kind, text));
                continue;
            }
            ev.by_kind.get_mut(&p.kind).expect("kind").fp += 1;
            ev.errors.push((p.kind, "FP", snippet(&d.text, &p.span)));
        }
        for (i, (k, span)) in d.labels.iter().enumerate() {
            if !hit[i] {
                ev.by_kind.get_mut(k).expect("kind").fn_ += 1;
                ev.errors.push((*k, "FN", snippet(&d.text, span)));
            }
        }
        for (cat, span) in &d.negatives {
            let e = ev.negatives.entry(cat).or_default();
            e.0 += 1;
            if preds.iter().any(|p| overlaps(&p.span, span)) {
                e.1 += 1;
            }
        }
    }
    ev
}

/// The evaluation as a table.
pub fn table(ev: &Evaluation) -> String {
    let mut s = format!("{} documents, {} bytes\n", ev.docs, ev.bytes);
    s.push_str(&format!("{:<16} {:>6} {:>5} {:>5} {:>9} {:>7} {:>6}\n", "kind", "tp", "fp", "fn", "precision", "recall", "exact"));
    for (k, v) in &ev.by_kind {
        s.push_str(&format!(
            "{:<16} {:>6} {:>5} {:>5} {:>9.4} {:>7.4} {:>6}\n",
            k.name(),
            v.tp,
            v.fp,
            v.fn_,
            v.precision(),
            v.recall(),
            v.exact
        ));
    }
    s.push_str("hard negatives (inserted, scrubbed):\n");
    for (c, (n, bad)) in &ev.negatives {
        s.push_str(&format!("  {c:<16} {n:>5} {bad:>5}\n"));
    }
    s.push_str(&format!("background detections in the original text (not scored): {}\n", ev.background.len()));
    for (k, t) in ev.background.iter().take(20) {
        s.push_str(&format!("  {}: {t}\n", k.name()));
    }
    s
}

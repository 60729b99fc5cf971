//! Mapping of fastText LID labels to the `language` codes of the stage.
//!
//! - `lid.176.bin` / `lid.176.ftz` labels are ISO 639-1 codes where one
//!   exists (`__label__en`, `__label__zh`) and ISO 639-2/3 otherwise
//!   (`__label__ceb`, `__label__als` = Alemannic): kept as they are, except
//!   the few 3-letter codes the whatlang table maps to 639-1.
//! - GlotLID labels are `<ISO 639-3>_<ISO 15924 script>` (`__label__eng_Latn`,
//!   `__label__cmn_Hani`, `__label__zho_Hans`): the 639-3 code (individual
//!   languages of a macrolanguage folded into it: `cmn` -> `zh`, `arb` -> `ar`,
//!   `ekk` -> `et`, ...) is mapped to 639-1 where one exists; the script
//!   gives Chinese its `zh_script` (`Hans` -> `hans`, `Hant` -> `hant`,
//!   `Hani` -> decided from the text).

/// ISO 639-3 (and 639-2/B) -> 639-1, for the languages GlotLID and lid.176
/// name with three letters. Individual languages are folded into their
/// macrolanguage's code (`cmn` -> `zh`).
const ISO3_TO_1: &[(&str, &str)] = &[
    ("afr", "af"),
    ("aka", "ak"),
    ("amh", "am"),
    ("ara", "ar"),
    ("arb", "ar"),
    ("asm", "as"),
    ("aym", "ay"),
    ("aze", "az"),
    ("azj", "az"),
    ("bak", "ba"),
    ("bel", "be"),
    ("ben", "bn"),
    ("bod", "bo"),
    ("bos", "bs"),
    ("bre", "br"),
    ("bul", "bg"),
    ("cat", "ca"),
    ("ces", "cs"),
    ("che", "ce"),
    ("chv", "cv"),
    ("cmn", "zh"),
    ("cos", "co"),
    ("cym", "cy"),
    ("dan", "da"),
    ("deu", "de"),
    ("div", "dv"),
    ("ekk", "et"),
    ("ell", "el"),
    ("eng", "en"),
    ("epo", "eo"),
    ("est", "et"),
    ("eus", "eu"),
    ("fao", "fo"),
    ("fas", "fa"),
    ("fij", "fj"),
    ("fil", "tl"),
    ("fin", "fi"),
    ("fra", "fr"),
    ("fry", "fy"),
    ("gaz", "om"),
    ("gla", "gd"),
    ("gle", "ga"),
    ("glg", "gl"),
    ("grn", "gn"),
    ("guj", "gu"),
    ("hat", "ht"),
    ("hau", "ha"),
    ("hbs", "sh"),
    ("heb", "he"),
    ("hin", "hi"),
    ("hrv", "hr"),
    ("hun", "hu"),
    ("hye", "hy"),
    ("ibo", "ig"),
    ("ido", "io"),
    ("ina", "ia"),
    ("ind", "id"),
    ("isl", "is"),
    ("ita", "it"),
    ("jav", "jv"),
    ("jpn", "ja"),
    ("kan", "kn"),
    ("kat", "ka"),
    ("kaz", "kk"),
    ("khk", "mn"),
    ("khm", "km"),
    ("kin", "rw"),
    ("kir", "ky"),
    ("kmr", "ku"),
    ("kor", "ko"),
    ("kur", "ku"),
    ("lao", "lo"),
    ("lat", "la"),
    ("lav", "lv"),
    ("lim", "li"),
    ("lin", "ln"),
    ("lit", "lt"),
    ("ltz", "lb"),
    ("lug", "lg"),
    ("lvs", "lv"),
    ("mal", "ml"),
    ("mar", "mr"),
    ("mkd", "mk"),
    ("mlg", "mg"),
    ("mlt", "mt"),
    ("mon", "mn"),
    ("mri", "mi"),
    ("msa", "ms"),
    ("mya", "my"),
    ("nbl", "nr"),
    ("nep", "ne"),
    ("nld", "nl"),
    ("nno", "nn"),
    ("nob", "nb"),
    ("nor", "no"),
    ("npi", "ne"),
    ("nya", "ny"),
    ("oci", "oc"),
    ("ori", "or"),
    ("orm", "om"),
    ("ory", "or"),
    ("oss", "os"),
    ("pan", "pa"),
    ("pbt", "ps"),
    ("pes", "fa"),
    ("plt", "mg"),
    ("pol", "pl"),
    ("por", "pt"),
    ("pus", "ps"),
    ("que", "qu"),
    ("ron", "ro"),
    ("rus", "ru"),
    ("san", "sa"),
    ("sin", "si"),
    ("slk", "sk"),
    ("slv", "sl"),
    ("sme", "se"),
    ("smo", "sm"),
    ("sna", "sn"),
    ("snd", "sd"),
    ("som", "so"),
    ("sot", "st"),
    ("spa", "es"),
    ("sqi", "sq"),
    ("srp", "sr"),
    ("ssw", "ss"),
    ("sun", "su"),
    ("swa", "sw"),
    ("swe", "sv"),
    ("swh", "sw"),
    ("tam", "ta"),
    ("tat", "tt"),
    ("tel", "te"),
    ("tgk", "tg"),
    ("tgl", "tl"),
    ("tha", "th"),
    ("tir", "ti"),
    ("ton", "to"),
    ("tsn", "tn"),
    ("tso", "ts"),
    ("tuk", "tk"),
    ("tur", "tr"),
    ("uig", "ug"),
    ("ukr", "uk"),
    ("urd", "ur"),
    ("uzb", "uz"),
    ("uzn", "uz"),
    ("ven", "ve"),
    ("vie", "vi"),
    ("vol", "vo"),
    ("wln", "wa"),
    ("wol", "wo"),
    ("xho", "xh"),
    ("ydd", "yi"),
    ("yid", "yi"),
    ("yor", "yo"),
    ("zho", "zh"),
    ("zsm", "ms"),
    ("zul", "zu"),
];

/// How a model's label maps to the stage's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapped {
    /// The `language` code (`en`, `zh`, `ceb`, ...).
    pub code: String,
    /// Chinese script fixed by the label (`hans`/`hant`); `None` for
    /// Chinese labels that leave it to the text, and for other languages.
    pub script: Option<&'static str>,
}

/// 639-1 for a 3-letter code, the code itself when it has none.
pub fn iso1(three: &str) -> Option<&'static str> {
    ISO3_TO_1.binary_search_by(|(k, _)| (*k).cmp(three)).ok().map(|i| ISO3_TO_1[i].1)
}

/// Map one fastText label (prefix already removed, e.g. `en`, `eng_Latn`,
/// `cmn_Hani`, `zh`) to a language code and, for Chinese, a script.
pub fn map_label(label: &str) -> Mapped {
    let (lang, script) = match label.split_once(['_', '-']) {
        Some((l, s)) => (l, Some(s)),
        None => (label, None),
    };
    let lang = lang.to_ascii_lowercase();
    // GlotLID style (a script suffix): fold 639-3 codes to 639-1. lid.176
    // style (bare code): 2-letter codes as they are; 3-letter ones only
    // when the code is unambiguous (lid.176's `als` is Alemannic, GlotLID's
    // `als_Latn` is Tosk Albanian).
    let code = if script.is_some() && lang == "als" {
        "sq".to_string()
    } else if lang.len() == 3 {
        iso1(&lang).map(str::to_string).unwrap_or(lang)
    } else {
        lang
    };
    let script = if code == "zh" {
        match script.map(|s| s.to_ascii_lowercase()) {
            Some(s) if s == "hans" => Some("hans"),
            Some(s) if s == "hant" => Some("hant"),
            _ => None,
        }
    } else {
        None
    };
    Mapped { code, script }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_for_binary_search() {
        assert!(ISO3_TO_1.windows(2).all(|w| w[0].0 < w[1].0), "ISO3_TO_1 must be sorted and unique");
    }

    #[test]
    fn lid176_and_glotlid_labels() {
        let m = |l: &str| map_label(l);
        assert_eq!(m("en"), Mapped { code: "en".into(), script: None });
        assert_eq!(m("zh"), Mapped { code: "zh".into(), script: None });
        assert_eq!(m("ceb").code, "ceb");
        assert_eq!(m("als").code, "als"); // lid.176: Alemannic
        assert_eq!(m("als_Latn").code, "sq"); // GlotLID: Tosk Albanian
        assert_eq!(m("eng_Latn"), Mapped { code: "en".into(), script: None });
        assert_eq!(m("cmn_Hani"), Mapped { code: "zh".into(), script: None });
        assert_eq!(m("zho_Hans"), Mapped { code: "zh".into(), script: Some("hans") });
        assert_eq!(m("zho_Hant"), Mapped { code: "zh".into(), script: Some("hant") });
        assert_eq!(m("jpn_Jpan").code, "ja");
        assert_eq!(m("arb_Arab").code, "ar");
        assert_eq!(m("ekk_Latn").code, "et");
        assert_eq!(m("yue_Hani").code, "yue");
        assert_eq!(m("srp_Cyrl").code, "sr");
    }
}

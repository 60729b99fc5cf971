//! Language identification.
//!
//! Four backends, chosen by `backend:`:
//!
//! - `builtin` (the default): script counts decide CJK and the other
//!   one-language scripts at once (Han without kana or Hangul is Chinese,
//!   kana means Japanese, Hangul Korean; punctuation, digits and symbols,
//!   full-width `！？` included, count for no script). Latin text is scored
//!   by a common-word prior (the most frequent function words of 29
//!   languages, [`words`]); where the words do not decide, whatlang's
//!   trigram profiles choose among the languages the words allow (or among
//!   all, when the text has no function word). Cyrillic and the other
//!   scripts go to whatlang. It reads at most `max_chars` characters from
//!   the middle of the text and stops reading words once they decide.
//! - `whatlang`: [whatlang](https://crates.io/crates/whatlang) alone, as
//!   sluice did before (69 languages; it calls Han text with `！！！` runs
//!   Korean, and short English often French or Spanish).
//! - `lingua`: [lingua](https://crates.io/crates/lingua) with the languages
//!   compiled in (only when sluice is built with the `lingua` feature: its
//!   models are tens of MB).
//! - `fasttext`: a fastText LID model (`lid.176.bin`/`.ftz`, GlotLID) named
//!   by `model:`; labels are mapped to the same codes ([`labels`]).
//!
//! Labels are ISO 639-1 codes where one exists (`en`, `zh`, `ja`, `de`,
//! ...), ISO 639-3 otherwise. Chinese is always `zh`; its script goes into
//! the `zh_script` metadata, `hans` (simplified) or `hant` (traditional),
//! decided by counting characters that exist in only one of the two
//! scripts (or by a GlotLID `_Hans`/`_Hant` label). A keep-list entry
//! `zh-Hans`/`zh-Hant` selects one script.
//!
//! `benches/langid/` measures accuracy by length and speed of every backend.

mod labels;
mod words;

pub use labels::{map_label, Mapped};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sluice_pipeline::filter::{Filter, FilterConfig, Filtered, Mode, Signals};
use sluice_pipeline::{Document, Reason, Scratch};
use whatlang::{Detector, Lang};

fn d_score() -> f64 {
    0.65
}
fn d_max_chars() -> usize {
    3_000
}

/// Which language detector the `language` stage runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Script rules, a function-word prior for Latin text and whatlang's
    /// trigrams where the words do not decide (the default).
    #[default]
    Builtin,
    /// whatlang alone (sluice's detector before the built-in one).
    Whatlang,
    /// lingua, with the languages compiled in (needs the `lingua` cargo
    /// feature).
    Lingua,
    /// A fastText LID model (`model:`), e.g. lid.176.bin or GlotLID.
    Fasttext,
}

/// Configuration of the `language` stage. It writes the metadata
/// `language` (and `zh_script` for Chinese) and the attribute
/// `language_score` (the detector's confidence, 0 to 1).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LanguageIdConfig {
    /// The detector: `builtin` (default), `whatlang`, `lingua` (only in a
    /// build with the `lingua` feature) or `fasttext` (needs `model`).
    #[serde(default)]
    pub backend: Backend,
    /// The fastText LID model file (`.bin` or `.ftz`; lid.176 or GlotLID
    /// style labels) for `backend: fasttext`. Only with that backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Languages to keep (`en`, `zh`, `zh-Hant`, ...): documents in another
    /// language are dropped (`language_not_kept`). Empty keeps every
    /// language. Default: empty.
    #[serde(default)]
    pub languages: Vec<String>,
    /// Drop documents whose score is below this (`language_low_score`).
    /// The score (`language_score`) is the backend's confidence: for
    /// `builtin`, 1 - exp(-margin / 1.5) with margin the function-word score
    /// of the best language over the runner-up (whatlang's confidence where
    /// trigrams decide), times the share of the text's letters in the
    /// chosen script; `fasttext`'s top probability; whatlang's and lingua's
    /// own confidence. Default 0.65.
    #[serde(default = "d_score")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub min_score: f64,
    /// At most this many characters, from the middle of the text, are
    /// analysed (main content sits there; navigation and footers at both
    /// ends). Default 3000.
    #[serde(default = "d_max_chars")]
    #[schemars(range(min = 1, max = 100_000_000))]
    pub max_chars: usize,
    /// Only annotate: write the metadata and score, drop nothing. Default false.
    #[serde(default)]
    pub annotate_only: bool,
}

impl Default for LanguageIdConfig {
    fn default() -> Self {
        serde_json::from_value(serde_json::json!({})).expect("defaults deserialise")
    }
}

impl LanguageIdConfig {
    /// The options `--what-if` re-evaluates, and their attributes
    /// (`language_score` is always written).
    pub const SIGNAL_RULES: &'static [crate::SignalRule] = &[crate::SignalRule {
        option: "min_score",
        attribute: "language_score",
        test: crate::Test::DropBelow,
        reason: "language_low_score",
    }];

    pub fn validate(&self) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if !(0.0..=1.0).contains(&self.min_score) {
            e.push(("min_score".into(), format!("must be between 0 and 1, got {}", self.min_score)));
        }
        if self.max_chars == 0 || self.max_chars > 100_000_000 {
            e.push(("max_chars".into(), format!("must be between 1 and 100000000, got {}", self.max_chars)));
        }
        match (self.backend, &self.model) {
            (Backend::Fasttext, None) => {
                e.push(("model".into(), "backend `fasttext` needs `model: PATH` (a fastText LID .bin or .ftz)".into()))
            }
            (Backend::Fasttext, Some(m)) => {
                if let Some(p) = model_file_problem(std::path::Path::new(m)) {
                    e.push(("model".into(), p));
                }
            }
            (b, Some(_)) => e.push(("model".into(), format!("only the `fasttext` backend reads a model, not `{}`", b.name()))),
            (_, None) => {}
        }
        if self.backend == Backend::Lingua && !cfg!(feature = "lingua") {
            e.push(("backend".into(), "`lingua` needs a sluice built with the `lingua` cargo feature".into()));
        }
        for (i, l) in self.languages.iter().enumerate() {
            let known = match self.backend {
                // a model's labels are only known once it is loaded: any
                // well-formed code is accepted
                Backend::Fasttext => {
                    let base = l.split(['-', '_']).next().unwrap_or(l);
                    (2..=3).contains(&base.len()) && base.chars().all(|c| c.is_ascii_alphabetic())
                }
                _ => from_label(l).is_some(),
            };
            if !known {
                e.push((
                    format!("languages[{i}]"),
                    format!("unknown language `{l}` (use ISO 639-1 or 639-3 codes, e.g. en, zh, zh-Hant, ja)"),
                ));
            }
        }
        e
    }

    /// The stage; panics where [`try_build`](Self::try_build) fails (a
    /// `fasttext` model that does not load).
    pub fn build(&self) -> Filtered<LanguageId> {
        self.try_build().unwrap_or_else(|e| panic!("language stage: {e:?}"))
    }

    /// The stage, or why its detector cannot be built.
    pub fn try_build(&self) -> Result<Filtered<LanguageId>, Vec<(String, String)>> {
        Ok(Filtered::single(self.filter()?, self.mode()))
    }
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Builtin => "builtin",
            Backend::Whatlang => "whatlang",
            Backend::Lingua => "lingua",
            Backend::Fasttext => "fasttext",
        }
    }
}

fn model_file_problem(p: &std::path::Path) -> Option<String> {
    match std::fs::metadata(p) {
        Err(e) => Some(format!("{}: {e}", p.display())),
        Ok(m) if !m.is_file() => Some(format!("{}: not a regular file", p.display())),
        Ok(_) => None,
    }
}

impl FilterConfig for LanguageIdConfig {
    type Filter = LanguageId;

    fn mode(&self) -> Mode {
        Mode::of(self.annotate_only, false)
    }

    fn check(&self) -> Vec<(String, String)> {
        self.validate()
    }

    fn filter(&self) -> Result<LanguageId, Vec<(String, String)>> {
        let engine = match self.backend {
            Backend::Builtin => Engine::Builtin,
            Backend::Whatlang => Engine::Whatlang(Detector::new()),
            #[cfg(feature = "lingua")]
            Backend::Lingua => Engine::Lingua(lingua_backend::Lingua::new()),
            #[cfg(not(feature = "lingua"))]
            Backend::Lingua => {
                return Err(vec![("backend".into(), "`lingua` needs a sluice built with the `lingua` cargo feature".into())])
            }
            Backend::Fasttext => {
                let Some(m) = &self.model else {
                    return Err(vec![("model".into(), "backend `fasttext` needs `model: PATH`".into())]);
                };
                Engine::FastText(Box::new(
                    fasttext_backend::FastTextLid::load(std::path::Path::new(m)).map_err(|e| vec![("model".into(), e)])?,
                ))
            }
        };
        Ok(LanguageId { cfg: self.clone(), engine })
    }
}

/// The `language` stage.
pub struct LanguageId {
    cfg: LanguageIdConfig,
    engine: Engine,
}

impl std::fmt::Debug for LanguageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LanguageId").field("backend", &self.cfg.backend).finish()
    }
}

enum Engine {
    Builtin,
    Whatlang(Detector),
    #[cfg(feature = "lingua")]
    Lingua(lingua_backend::Lingua),
    FastText(Box<fasttext_backend::FastTextLid>),
}

const ISO1: &[(&str, &str)] = &[
    ("eng", "en"),
    ("rus", "ru"),
    ("cmn", "zh"),
    ("spa", "es"),
    ("por", "pt"),
    ("ita", "it"),
    ("ben", "bn"),
    ("fra", "fr"),
    ("deu", "de"),
    ("ukr", "uk"),
    ("kat", "ka"),
    ("ara", "ar"),
    ("hin", "hi"),
    ("jpn", "ja"),
    ("heb", "he"),
    ("yid", "yi"),
    ("pol", "pl"),
    ("amh", "am"),
    ("jav", "jv"),
    ("kor", "ko"),
    ("nob", "nb"),
    ("dan", "da"),
    ("swe", "sv"),
    ("fin", "fi"),
    ("tur", "tr"),
    ("nld", "nl"),
    ("hun", "hu"),
    ("ces", "cs"),
    ("ell", "el"),
    ("bul", "bg"),
    ("bel", "be"),
    ("mar", "mr"),
    ("kan", "kn"),
    ("ron", "ro"),
    ("slv", "sl"),
    ("hrv", "hr"),
    ("srp", "sr"),
    ("mkd", "mk"),
    ("lit", "lt"),
    ("lav", "lv"),
    ("est", "et"),
    ("tam", "ta"),
    ("vie", "vi"),
    ("urd", "ur"),
    ("tha", "th"),
    ("guj", "gu"),
    ("uzb", "uz"),
    ("pan", "pa"),
    ("aze", "az"),
    ("ind", "id"),
    ("tel", "te"),
    ("pes", "fa"),
    ("mal", "ml"),
    ("ori", "or"),
    ("mya", "my"),
    ("nep", "ne"),
    ("sin", "si"),
    ("khm", "km"),
    ("tuk", "tk"),
    ("aka", "ak"),
    ("zul", "zu"),
    ("sna", "sn"),
    ("afr", "af"),
    ("lat", "la"),
    ("slk", "sk"),
    ("cat", "ca"),
    ("tgl", "tl"),
    ("hye", "hy"),
    ("epo", "eo"),
];

/// Characters written differently in simplified and traditional Chinese
/// (frequent pairs; each side only exists in its own script).
const SIMPLIFIED: &str = "们这个说国会来时为对学发经东车长门见问间还进过开关点书业电现实头动话当没与无从让认义报华区钱马鱼鸟龙爱听买卖写读语识观处应总机体万岁气张将员样边声战军难乐师产决亲场给请谁课练历风飞热热农网讲轻达运远选钟键阳阴阶际陈隐虽双杂鸡离电顺顾领题颜页类级红约纪纸线组细经结绝统继续维综编缘贵费资赛赵车转软轮输办务动劳势单卫厂厅历压县参发变号叹吗听员响团园围图圆圣坏块坚坛垒执扩扫扬护报抢担拥择挂挡换据掷损摇摄敌数斗断无旧时显晓暂术杀杂权条来杨极构枪柜标栏树样档桥梦检楼欢残毕气汇汉汤沟没泪泽洁洒浅浊测济浏浑浓涂涛涨渊渐渔温湾湿满滚滞灭灯灵灾炉点炼烂烟烦烧热爱爷牵犹狮独猎猫献环现玛电画畅疗盐监盖盘矿码础确离种积称税稳穷窃竞笔笋笼筑简粮紧纠红纤纪约级纯纲纳纵纷纸纹纺线练组细织终绍经绑结绕绘给络绝统绣继绩绪续维绵综绿缓编缘缝缩网罗罚罢职联聪肃肠肤肿胁胆胜胶脑脚脱脸腊舰艰艺节芦苏苹荐药获莱莲营萧萨蓝蕴虏虑虚虽蚀补衬袄装见观规视览觉订认讨让训议讯记讲许论设访证评识诉诊词译试诗诚话诞询该详语误说请诸读课谁调谈谊谋谓谢谨谱贝负贡财责贤败货质贩贪贫购贯贱贴贵贷贸费贺贼资赋赌赏赔赖赚赛赞赠赢赵赶趋跃践踪轨轩转轮软轰轻载较辅辆辈辉辑输辞边辽达迁过迈运还这进远违连迟适选逊递逻遗邓邮邻郑酱释鉴针钉钓钟钢钥钦钱钻铁铃铜铭铺链销锁锅锋错锦键锻镇镜长门闪闭问闯闲间闷闹闻阀阁阅队阳阴阵阶际陆陈降险随隐隶难雾霉静韩页顶项顺须顾顿预领频题颜额风飘飞饥饭饮饰饱饲饶饼馆马驱驳驶驻驾骂骄验骑骗骤鱼鲁鲜鸟鸡鸣鸭鸿鹅鹰麦黄齐齿龄龙龟";
const TRADITIONAL: &str = "們這個說國會來時為對學發經東車長門見問間還進過後開關點書業電現實頭動話當沒與無從讓認義報華區錢馬魚鳥龍愛聽買賣寫讀語識觀處應總機體萬歲氣張將員樣邊聲戰軍幾難樂師產決親場給請誰課練歷風飛熱農網講輕達運遠選鐘鍵陽陰階際陳隱雖雙雜雞離雲順顧領題顏頁類級紅約紀紙線組細結絕統繼續維綜編緣貴費資賽趙轉軟輪輸辦務勞勢單衛廠廳壓縣參變葉號嘆嗎響哪團園圍圖圓聖壞塊堅壇壘執擴掃揚護搶擔擁擇掛擋換據擲損搖攝敵數鬥斷舊顯曉暫術殺權條楊極構槍櫃標欄樹檔橋夢檢樓歡殘畢匯漢湯溝淚澤潔灑淺濁測濟瀏渾濃塗濤漲淵漸漁溫灣濕滿滾滯滅燈靈災爐煉爛煙煩燒爺牽猶獅獨獵貓獻環瑪珍畫暢療鹽監蓋盤著礦碼礎確種積稱稅穩窮竊競筆筍籠築簡糧緊糾纖純綱納縱紛紋紡織終紹綁繞繪絡繡績緒綿綠緩縫縮羅罰罷職聯聰肅腸膚腫脅膽勝膠腦腳脫臉臘艦艱藝節蘆蘇蘋範薦藥獲萊蓮營蕭薩藍蘊虜慮虛蟲蝕補襯襖裝規視覽覺訂討訓議訊記許論設訪證評訴診詞譯試詩誠誕詢該詳誤諸調談誼謀謂謝謹譜貝負貢財責賢敗貨質販貪貧購貫賤貼貸貿賀賊賦賭賞賠賴賺贊贈贏趕趨躍踐蹤軌軒轟載較輔輛輩輝輯辭遼遷邁違遲適遜遞邏遺鄧郵鄰鄭醬釋裡鑒針釘釣鋼鑰欽鑽鐵鈴銅銘鋪鏈銷鎖鍋鋒錯錦鍛鎮鏡閃閉闖閒悶鬧聞閥閣閱隊陣陸險隨隸霧黴靜韓頂項須頓預頻額飄饑飯飲飾飽飼饒餅館駐驅駁駛駕罵驕驗騎騙驟魯鮮鳴鴨鴻鵝鷹麥黃齊齒齡龜";

fn script_sets() -> &'static (std::collections::HashSet<char>, std::collections::HashSet<char>) {
    static S: std::sync::OnceLock<(std::collections::HashSet<char>, std::collections::HashSet<char>)> = std::sync::OnceLock::new();
    S.get_or_init(|| {
        let simp: std::collections::HashSet<char> = SIMPLIFIED.chars().collect();
        let trad: std::collections::HashSet<char> = TRADITIONAL.chars().collect();
        // a character in both lists is not evidence of either
        let both: Vec<char> = simp.intersection(&trad).copied().collect();
        let (mut s, mut t) = (simp, trad);
        for c in both {
            s.remove(&c);
            t.remove(&c);
        }
        (s, t)
    })
}

/// `hans` or `hant` for Chinese text (ties go to `hans`).
pub fn chinese_script(text: &str) -> &'static str {
    let (simp, trad) = script_sets();
    let (mut s, mut t) = (0usize, 0usize);
    for c in text.chars() {
        if ('\u{4e00}'..='\u{9fff}').contains(&c) {
            if simp.contains(&c) {
                s += 1;
            } else if trad.contains(&c) {
                t += 1;
            }
        }
    }
    if t > s {
        "hant"
    } else {
        "hans"
    }
}

/// The whatlang language of a label (`en`, `eng`, `zh-Hant`).
fn from_label(l: &str) -> Option<Lang> {
    let base = l.split(['-', '_']).next().unwrap_or(l).to_ascii_lowercase();
    ISO1.iter().find(|(_, two)| *two == base).and_then(|(three, _)| Lang::from_code(*three)).or_else(|| Lang::from_code(base.as_str()))
}

/// Our label for a whatlang language.
pub fn label(lang: Lang) -> &'static str {
    let c = lang.code();
    ISO1.iter().find(|(three, _)| *three == c).map(|(_, two)| *two).unwrap_or(c)
}

fn char_count(s: &str) -> usize {
    s.as_bytes().iter().filter(|&&b| (b & 0xC0) != 0x80).count()
}

/// `max_chars` characters from the middle of `text` by character count
/// (the `whatlang` backend's sample, as before).
fn middle_by_count(text: &str, max_chars: usize) -> &str {
    if text.len() <= max_chars {
        return text;
    }
    let n = char_count(text);
    if n <= max_chars {
        return text;
    }
    let skip = (n - max_chars) / 2;
    let mut it = text.char_indices().skip(skip);
    let a = it.next().map(|(i, _)| i).unwrap_or(0);
    let b = it.nth(max_chars.saturating_sub(2)).map(|(i, _)| i).unwrap_or(text.len());
    &text[a..b]
}

/// `max_chars` characters around the middle byte of `text`: O(max_chars),
/// whatever the length of the text.
fn middle(text: &str, max_chars: usize) -> &str {
    if text.len() <= max_chars {
        return text;
    }
    let mut mid = text.len() / 2;
    while !text.is_char_boundary(mid) {
        mid -= 1;
    }
    let half = max_chars / 2;
    // ASCII around the middle (most web text): bytes are characters
    if mid >= half && mid + (max_chars - half) <= text.len() {
        let w = &text.as_bytes()[mid - half..mid + (max_chars - half)];
        if w.is_ascii() {
            return &text[mid - half..mid + (max_chars - half)];
        }
    }
    let a = text[..mid].char_indices().rev().nth(half.saturating_sub(1)).map(|(i, _)| i).unwrap_or(0);
    let b = text[mid..].char_indices().nth(max_chars - half).map(|(i, _)| mid + i).unwrap_or(text.len());
    &text[a..b]
}

/// Letters of each script group in a sample (punctuation, digits, symbols
/// and spaces count for none).
#[derive(Debug, Default, Clone, Copy)]
struct Scripts {
    latin: u32,
    cyrillic: u32,
    han: u32,
    kana: u32,
    hangul: u32,
    other: u32,
}

impl Scripts {
    fn count(s: &str) -> Scripts {
        let mut n = Scripts::default();
        for &b in s.as_bytes() {
            // ASCII letters directly; the lead byte of a multi-byte character
            // starts the slow path below
            if b < 0x80 {
                n.latin += b.is_ascii_alphabetic() as u32;
            }
        }
        if s.is_ascii() {
            return n;
        }
        for c in s.chars() {
            let u = c as u32;
            if u < 0x80 {
                continue;
            }
            match u {
                0xC0..=0x24F if u != 0xD7 && u != 0xF7 => n.latin += 1,
                0x1E00..=0x1EFF | 0xFF21..=0xFF3A | 0xFF41..=0xFF5A => n.latin += 1,
                0x400..=0x52F => n.cyrillic += 1,
                0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FFFF => n.han += 1,
                // hiragana, katakana (not the middle dot U+30FB), phonetic
                // extensions, half-width katakana
                0x3041..=0x309F | 0x30A0..=0x30FA | 0x30FC..=0x30FF | 0x31F0..=0x31FF | 0xFF66..=0xFF9D => n.kana += 1,
                0xAC00..=0xD7AF | 0x1100..=0x11FF | 0x3131..=0x318E | 0xFFA0..=0xFFDC => n.hangul += 1,
                // punctuation, symbols and spaces (general punctuation,
                // arrows, box drawing, CJK and full-width punctuation, the
                // Latin-1 signs): no script, and no Unicode table look-up
                0x80..=0xBF | 0x2000..=0x2BFF | 0x3000..=0x303F | 0xFE30..=0xFE4F | 0xFF00..=0xFF20 | 0xFF3B..=0xFF40 | 0xFF5B..=0xFF65 => {
                }
                _ => n.other += c.is_alphabetic() as u32,
            }
        }
        n
    }
}

/// Weight of a CJK character against one letter of an alphabet (a Han
/// character or a Hangul syllable carries about what a short word does).
const CJK_WEIGHT: u32 = 2;
/// Japanese: kana at least this share of the CJK characters.
const KANA_SHARE: f64 = 0.05;
/// Korean: Hangul at least this share of the CJK characters.
const HANGUL_SHARE: f64 = 0.3;
/// Words read before the Latin scorer checks whether it has decided, and
/// the score (function words, shared ones split) that decides early.
const EARLY_WORDS: usize = 16;
const EARLY_SCORE: f32 = 12.0;
/// The function words decide when the best language has at least
/// `DECIDE_SCORE` and `DECIDE_RATIO` times the runner-up.
const DECIDE_SCORE: f32 = 2.0;
const DECIDE_RATIO: f32 = 3.0;
/// A language stays a candidate for the trigram vote with at least this
/// share of the best language's word score.
const CANDIDATE_SHARE: f32 = 0.5;
/// Confidence of a word decision: 1 - exp(-margin / MARGIN_SCALE), margin
/// the best language's word score minus the runner-up's.
const MARGIN_SCALE: f64 = 1.5;
/// Word score that gives full confidence.
const FULL_EVIDENCE: f32 = 3.0;
/// At most this many characters go to whatlang when it is asked.
const WHATLANG_CHARS: usize = 400;

/// The word table: word -> bit set of the languages of [`words::WORDS`].
struct WordTable {
    words: crate::FxMap<&'static str, u32>,
    langs: Vec<Lang>,
}

fn word_table() -> &'static WordTable {
    static T: std::sync::OnceLock<WordTable> = std::sync::OnceLock::new();
    T.get_or_init(|| {
        assert!(words::WORDS.len() <= 32, "the word table's bit set holds 32 languages");
        let mut words: crate::FxMap<&'static str, u32> = Default::default();
        let mut langs = Vec::new();
        for (i, (code, list)) in words::WORDS.iter().enumerate() {
            langs.push(Lang::from_code(*code).expect("whatlang code in the word table"));
            for w in list.split_whitespace() {
                *words.entry(w).or_insert(0) |= 1 << i;
            }
        }
        WordTable { words, langs }
    })
}

/// The Latin-script languages common on the web, among which whatlang
/// chooses for text without function words.
const COMMON_LATIN: &[Lang] = &[
    Lang::Eng,
    Lang::Deu,
    Lang::Fra,
    Lang::Spa,
    Lang::Ita,
    Lang::Por,
    Lang::Nld,
    Lang::Pol,
    Lang::Swe,
    Lang::Ind,
    Lang::Tur,
    Lang::Ces,
    Lang::Ron,
    Lang::Hun,
    Lang::Vie,
    Lang::Dan,
    Lang::Fin,
];
const CYRILLIC_LANGS: &[Lang] = &[Lang::Rus, Lang::Ukr, Lang::Srp, Lang::Bel, Lang::Bul, Lang::Mkd];

/// whatlang on at most [`WHATLANG_CHARS`] characters of `s`, among `allow`
/// (all languages when empty), never a CJK language (the script rules
/// decide those).
fn whatlang_among(s: &str, allow: &[Lang]) -> Option<(Lang, f64)> {
    let s = middle(s, WHATLANG_CHARS);
    let d = if allow.is_empty() {
        Detector::with_denylist(vec![Lang::Cmn, Lang::Jpn, Lang::Kor])
    } else {
        Detector::with_allowlist(allow.to_vec())
    };
    d.detect(s).map(|i| (i.lang(), i.confidence()))
}

/// The Latin scorer: function words, then trigrams where they do not decide.
fn detect_latin(s: &str) -> Option<(Lang, f64)> {
    let t = word_table();
    let mut score = [0f32; 32];
    let mut lower = String::with_capacity(32);
    let mut n = 0usize;
    for w in s.split(|c: char| !c.is_alphabetic()) {
        if w.is_empty() || w.len() > 24 {
            continue;
        }
        n += 1;
        let key: &str = if w.bytes().all(|b| b.is_ascii_lowercase()) {
            w
        } else {
            lower.clear();
            lower.extend(w.chars().flat_map(char::to_lowercase));
            &lower
        };
        if let Some(&mask) = t.words.get(key) {
            let weight = 1.0 / mask.count_ones() as f32;
            let mut m = mask;
            while m != 0 {
                score[m.trailing_zeros() as usize] += weight;
                m &= m - 1;
            }
        }
        if n.is_multiple_of(EARLY_WORDS) {
            let (b, c) = top2(&score[..t.langs.len()]);
            if score[b] >= EARLY_SCORE && score[b] >= 2.0 * DECIDE_RATIO * score[c] {
                break;
            }
        }
    }
    let (b, c) = top2(&score[..t.langs.len()]);
    let (sb, sc) = (score[b], score[c]);
    // confidence grows with the margin of function words over the runner-up
    let margin_conf = 1.0 - (-((sb - sc) as f64) / MARGIN_SCALE).exp();
    let evidence = (sb / FULL_EVIDENCE).min(1.0) as f64;
    if sb >= DECIDE_SCORE && sb >= DECIDE_RATIO * sc {
        return Some((t.langs[b], margin_conf));
    }
    if sb == 0.0 {
        // no function word (names, titles, menus): the trigram profiles
        // among the Latin languages common on the web (measured on the
        // tune split: better than all 36, whose rare languages win on names)
        return whatlang_among(s, COMMON_LATIN);
    }
    let cands: Vec<Lang> = (0..t.langs.len()).filter(|&i| score[i] >= CANDIDATE_SHARE * sb).map(|i| t.langs[i]).collect();
    if cands.len() == 1 {
        return Some((cands[0], margin_conf));
    }
    let (lang, conf) = whatlang_among(s, &cands)?;
    Some((lang, conf.min(evidence.max(0.5))))
}

/// Index of the highest and second highest value (ties: the lower index).
fn top2(v: &[f32]) -> (usize, usize) {
    let (mut b, mut c) = (0, usize::MAX);
    for i in 1..v.len() {
        if v[i] > v[b] {
            c = b;
            b = i;
        } else if c == usize::MAX || v[i] > v[c] {
            c = i;
        }
    }
    (b, if c == usize::MAX { b } else { c })
}

/// The built-in detector on a sample: (language, score).
fn detect_builtin(s: &str) -> Option<(Lang, f64)> {
    let n = Scripts::count(s);
    let cjk = n.han + n.kana + n.hangul;
    let groups = [CJK_WEIGHT * cjk, n.latin, n.cyrillic, n.other];
    let total: u32 = groups.iter().sum();
    if total == 0 {
        return None;
    }
    let main = (0..groups.len()).fold(0, |b, i| if groups[i] > groups[b] { i } else { b });
    let share = groups[main] as f64 / total as f64;
    let (lang, conf) = match main {
        0 => {
            let c = cjk as f64;
            let lang = if n.hangul as f64 >= HANGUL_SHARE * c && n.hangul >= n.kana {
                Lang::Kor
            } else if n.kana as f64 >= KANA_SHARE * c {
                Lang::Jpn
            } else {
                Lang::Cmn
            };
            (lang, 1.0)
        }
        1 => detect_latin(s)?,
        2 => whatlang_among(s, CYRILLIC_LANGS)?,
        _ => whatlang_among(s, &[])?,
    };
    Some((lang, conf * share))
}

impl LanguageId {
    /// Detect a text's language: (label, zh script if Chinese, score).
    pub fn detect(&self, text: &str) -> Option<(&str, Option<&'static str>, f64)> {
        match &self.engine {
            Engine::Builtin => {
                let sample = middle(text, self.cfg.max_chars);
                let (lang, score) = detect_builtin(sample)?;
                let script = (lang == Lang::Cmn).then(|| chinese_script(sample));
                Some((label(lang), script, score))
            }
            Engine::Whatlang(detector) => {
                let sample = middle_by_count(text, self.cfg.max_chars);
                let info = detector.detect(sample)?;
                let mut lang = info.lang();
                // whatlang calls Han text with Japanese-style brackets (「」) Japanese;
                // Japanese prose without any kana does not exist, Chinese is all Han.
                if lang == Lang::Jpn && !sample.chars().any(|c| ('\u{3040}'..='\u{30ff}').contains(&c)) {
                    lang = Lang::Cmn;
                }
                let script = (lang == Lang::Cmn).then(|| chinese_script(sample));
                Some((label(lang), script, info.confidence()))
            }
            #[cfg(feature = "lingua")]
            Engine::Lingua(l) => {
                let sample = middle(text, self.cfg.max_chars);
                let (code, score) = l.detect(sample)?;
                let script = (code == "zh").then(|| chinese_script(sample));
                Some((code, script, score))
            }
            Engine::FastText(ft) => {
                let sample = middle(text, self.cfg.max_chars);
                let (m, score) = ft.detect(sample)?;
                let script = if m.code == "zh" { Some(m.script.unwrap_or_else(|| chinese_script(sample))) } else { None };
                Some((m.code.as_str(), script, score))
            }
        }
    }

    fn kept(&self, lab: &str, script: Option<&str>) -> bool {
        if self.cfg.languages.is_empty() {
            return true;
        }
        self.cfg.languages.iter().any(|want| {
            let mut parts = want.split(['-', '_']);
            let base = parts.next().unwrap_or(want);
            let base_ok = match from_label(base) {
                Some(l) => label(l) == lab,
                None => base.eq_ignore_ascii_case(lab),
            };
            match (parts.next(), script) {
                (None, _) => base_ok,
                (Some(s), Some(sc)) => base_ok && s.eq_ignore_ascii_case(sc),
                (Some(_), None) => base_ok,
            }
        })
    }
}

mod fasttext_backend {
    use super::labels::{map_label, Mapped};
    use std::cell::RefCell;

    /// A fastText LID model and its labels mapped to language codes.
    pub struct FastTextLid {
        model: sluice_fasttext::Model,
        mapped: Vec<Mapped>,
    }

    thread_local! {
        /// Per-thread buffers: the one-line text, fastText's scratch, the probabilities.
        static BUF: RefCell<(String, sluice_fasttext::Scratch, Vec<f32>)> = RefCell::new(Default::default());
    }

    impl FastTextLid {
        pub fn load(path: &std::path::Path) -> Result<FastTextLid, String> {
            let model = sluice_fasttext::Model::load(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let prefix = model.label_prefix().to_string();
            if model.labels().is_empty() {
                return Err(format!("{}: the model has no labels", path.display()));
            }
            let mapped = model.labels().iter().map(|l| map_label(l.strip_prefix(prefix.as_str()).unwrap_or(l))).collect();
            Ok(FastTextLid { model, mapped })
        }

        /// The most probable label and its probability, for the text as one
        /// line (newlines become spaces, as datatrove's fastText LID does;
        /// the trailing newline is the `</s>` Python's `predict` adds).
        /// `None` when the text has no feature the model knows.
        pub fn detect(&self, s: &str) -> Option<(&Mapped, f64)> {
            BUF.with(|b| {
                let (line, scratch, probs) = &mut *b.borrow_mut();
                line.clear();
                line.extend(s.chars().map(|c| if c == '\n' || c == '\r' { ' ' } else { c }));
                line.push('\n');
                self.model.predict_into(line, scratch, probs);
                if scratch.n_features() == 0 {
                    return None;
                }
                // highest probability, ties to the lower label index
                let (i, p) = probs.iter().enumerate().fold((0, f32::MIN), |(bi, bp), (i, &p)| if p > bp { (i, p) } else { (bi, bp) });
                Some((&self.mapped[i], p as f64))
            })
        }
    }
}

#[cfg(feature = "lingua")]
mod lingua_backend {
    use lingua::{LanguageDetector, LanguageDetectorBuilder};

    /// lingua over the languages compiled in, models preloaded (loading
    /// them lazily would make the first documents' timing depend on order).
    pub struct Lingua {
        detector: LanguageDetector,
        codes: Vec<(lingua::Language, String)>,
    }

    impl Lingua {
        pub fn new() -> Lingua {
            let mut langs: Vec<lingua::Language> = lingua::Language::all().into_iter().collect();
            langs.sort_by_key(|l| l.iso_code_639_1().to_string());
            let codes = langs.iter().map(|l| (*l, l.iso_code_639_1().to_string())).collect();
            let detector = LanguageDetectorBuilder::from_languages(&langs).with_preloaded_language_models().build();
            Lingua { detector, codes }
        }

        pub fn detect(&self, s: &str) -> Option<(&str, f64)> {
            let v = self.detector.compute_language_confidence_values(s);
            let (lang, conf) = v.first()?;
            if *conf <= 0.0 {
                return None;
            }
            let code = self.codes.iter().find(|(l, _)| l == lang).map(|(_, c)| c.as_str())?;
            Some((code, *conf))
        }
    }
}

impl Filter for LanguageId {
    fn evaluate(&self, doc: &mut Document, _: &mut Scratch, signals: &mut Signals) -> Option<Reason> {
        // The label and its score are written whatever the mode.
        let Some((lab, script, score)) = self.detect(&doc.text) else {
            doc.metadata.insert("language".into(), "unknown".into());
            doc.attributes.insert("language_score".into(), 0.0);
            return Some(Reason::Static("language_unknown"));
        };
        let lab = lab.to_string();
        doc.metadata.insert("language".into(), lab.clone().into());
        if let Some(s) = script {
            doc.metadata.insert("zh_script".into(), s.into());
        }
        doc.attributes.insert("language_score".into(), score);
        if signals.all() {
            return None;
        }
        if !self.kept(&lab, script) {
            return Some(Reason::Static("language_not_kept"));
        }
        (score < self.cfg.min_score).then_some(Reason::Static("language_low_score"))
    }
}

impl sluice_pipeline::component::Component for LanguageIdConfig {
    const KIND: &'static str = "language";
    const ROLE: sluice_pipeline::Role = sluice_pipeline::Role::Stage;
    const ABOUT: &'static str = "Language ID (built-in script rules + function words + whatlang trigrams by default; whatlang, lingua or a fastText LID model as backends; zh with hans/hant script): writes `language` and `language_score`, can keep a list above a threshold";
    const SIGNAL_RULES: &'static [sluice_pipeline::component::SignalRule] = LanguageIdConfig::SIGNAL_RULES;

    fn validate(&self) -> Vec<(String, String)> {
        LanguageIdConfig::validate(self)
    }

    fn build(&self, cx: &sluice_pipeline::BuildContext) -> Result<sluice_pipeline::component::Built, Vec<sluice_pipeline::Diagnostic>> {
        self.try_build().map(sluice_pipeline::component::Built::doc).map_err(|e| sluice_pipeline::component::located(cx, e))
    }

    fn resolved(&self) -> Option<serde_json::Value> {
        sluice_pipeline::component::resolved_options(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_pipeline::{DocStage, Verdict};
    use std::sync::Arc;

    fn doc(t: &str) -> Document {
        Document::new("d", t, Arc::from("s"))
    }

    #[test]
    fn labels_and_scripts() {
        let f = LanguageIdConfig { annotate_only: true, ..Default::default() }.build();
        let cases = [
            ("The quick brown fox jumps over the lazy dog while the farmer watches from the old wooden fence.", "en", None),
            ("中华人民共和国是一个位于东亚的国家，我们这个国家的历史非常悠久，经济发展很快。", "zh", Some("hans")),
            ("中華人民共和國是一個位於東亞的國家，我們這個國家的歷史非常悠久，經濟發展很快。", "zh", Some("hant")),
            ("「唐音」的「唐」与「吴音」的「吴」和「汉音」的「汉」一样，并非指朝代，而是对中国的泛称。", "zh", Some("hans")),
            ("東京は日本の首都であり、世界で最も人口の多い都市圏のひとつです。多くの人が毎日電車で通勤しています。", "ja", None),
            ("Der schnelle braune Fuchs springt über den faulen Hund, während der Bauer vom alten Zaun aus zuschaut.", "de", None),
            ("El rápido zorro marrón salta sobre el perro perezoso mientras el granjero mira desde la vieja cerca.", "es", None),
            ("Le renard brun rapide saute par-dessus le chien paresseux pendant que le fermier regarde depuis la clôture.", "fr", None),
        ];
        for (text, lang, script) in cases {
            let mut d = doc(text);
            assert_eq!(f.process(&mut d), Verdict::Keep);
            assert_eq!(d.meta_str("language"), Some(lang), "{text}");
            assert_eq!(d.meta_str("zh_script"), script, "{text}");
            assert!(d.attributes["language_score"] > 0.0);
        }
    }

    #[test]
    fn keep_list_and_threshold() {
        let en = LanguageIdConfig { languages: vec!["en".into()], ..Default::default() }.build();
        let english = "The quick brown fox jumps over the lazy dog while the farmer watches from the old wooden fence.";
        assert_eq!(en.process(&mut doc(english)), Verdict::Keep);
        let german = "Der schnelle braune Fuchs springt über den faulen Hund, während der Bauer vom alten Zaun aus zuschaut.";
        assert_eq!(en.process(&mut doc(german)), Verdict::Drop("language_not_kept".into()));
        // a threshold above any score drops, one at zero keeps
        let strict = LanguageIdConfig { min_score: 1.0, ..Default::default() }.build();
        assert_eq!(strict.process(&mut doc("ok then")), Verdict::Drop("language_low_score".into()));
        let lax = LanguageIdConfig { min_score: 0.0, ..Default::default() }.build();
        assert_eq!(lax.process(&mut doc("ok then")), Verdict::Keep);
        // script-specific keep list
        let hant = LanguageIdConfig { languages: vec!["zh-Hant".into()], ..Default::default() }.build();
        assert_eq!(hant.process(&mut doc("我们这个国家的历史非常悠久，经济发展很快。")), Verdict::Drop("language_not_kept".into()));
        assert_eq!(hant.process(&mut doc("我們這個國家的歷史非常悠久，經濟發展很快。")), Verdict::Keep);
        assert_eq!(en.process(&mut doc("")), Verdict::Drop("language_unknown".into()));
    }

    #[test]
    fn long_texts_are_sampled_from_the_middle() {
        let de = "Der schnelle braune Fuchs springt über den faulen Hund, während der Bauer vom alten Zaun aus zuschaut. ".repeat(5);
        let en = "The quick brown fox jumps over the lazy dog while the farmer watches from the old wooden fence. ".repeat(5);
        let text = format!("{de}{en}{de}");
        let f = LanguageIdConfig { annotate_only: true, max_chars: 400, ..Default::default() }.build();
        let mut d = doc(&text);
        f.process(&mut d);
        assert_eq!(d.meta_str("language"), Some("en"));
        // the whole text is mostly German
        let all = LanguageIdConfig { annotate_only: true, max_chars: 100_000, ..Default::default() }.build();
        let mut d = doc(&format!("{de}{de}{en}{de}{de}"));
        all.process(&mut d);
        assert_eq!(d.meta_str("language"), Some("de"));
    }

    #[test]
    fn unknown_languages_are_config_errors() {
        let cfg = LanguageIdConfig { languages: vec!["en".into(), "klingon".into()], ..Default::default() };
        let e = cfg.validate();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].0, "languages[1]");
    }
    #[test]
    fn han_with_full_width_punctuation_runs_is_chinese() {
        // Regression: whatlang counts U+FF00..U+FFEF (full-width `！？`) as
        // Hangul, so review/Weibo-style exclamation runs made Han text
        // Korean with score 1.0.
        let f = LanguageIdConfig { annotate_only: true, ..Default::default() }.build();
        for text in [
            "背不下！！！！！",
            "好看！！！！！！！！",
            "这是什么？？？？？",
            "太好了！！！？？？",
            "真的假的？！？！？！",
            "謝謝！！！！！！",
        ] {
            let mut d = doc(text);
            f.process(&mut d);
            assert_eq!(d.meta_str("language"), Some("zh"), "{text}");
            assert!(d.attributes["language_score"] >= 0.65, "{text}: {}", d.attributes["language_score"]);
        }
        // Hangul is still Korean, kana still Japanese, with the same runs
        for (text, lang) in [("정말 좋아요！！！！！", "ko"), ("すごい！！！！！", "ja"), ("本当にありがとう！！！", "ja")]
        {
            let mut d = doc(text);
            f.process(&mut d);
            assert_eq!(d.meta_str("language"), Some(lang), "{text}");
        }
        // the old detector's failure, kept reachable as `backend: whatlang`
        let old = LanguageIdConfig { annotate_only: true, backend: Backend::Whatlang, ..Default::default() }.build();
        let mut d = doc("背不下！！！！！");
        old.process(&mut d);
        assert_eq!(d.meta_str("language"), Some("ko"));
    }

    #[test]
    fn short_english_sentences() {
        // Regression: whatlang alone labels many of these fr/es/it/nl...
        let f = LanguageIdConfig { annotate_only: true, ..Default::default() }.build();
        let sentences = [
            "Our bloggers cannot diagnose medical conditions.",
            "Click here to read the full article.",
            "Please enter your email address below.",
            "This item has been added to your cart.",
            "Free shipping on all orders over $50!",
            "I love this recipe, thanks for sharing.",
            "Leave a comment and let us know.",
            "Posted by admin in General on May 3",
            "Terms and conditions apply.",
            "We are open seven days a week.",
        ];
        for s in sentences {
            assert!(s.chars().count() < 50, "{s}");
            let mut d = doc(s);
            f.process(&mut d);
            assert_eq!(d.meta_str("language"), Some("en"), "{s}");
        }
    }

    #[test]
    fn sample_from_the_middle_is_bounded_and_on_char_boundaries() {
        let text = "é".repeat(10_000) + &"字".repeat(10_000);
        for n in [1, 2, 3, 100, 2999, 3000] {
            let m = middle(&text, n);
            let c = m.chars().count();
            assert!(c <= n + 1 && c + 1 >= n, "{n}: {c}");
        }
        assert_eq!(middle("short", 3000), "short");
    }

    #[test]
    fn backend_options_are_checked() {
        let parse = |v: serde_json::Value| serde_json::from_value::<LanguageIdConfig>(v);
        assert!(parse(serde_json::json!({"backend": "nope"})).is_err());
        assert!(parse(serde_json::json!({"max_char": 10})).is_err(), "unknown keys are errors");
        let e = parse(serde_json::json!({"backend": "fasttext"})).unwrap().validate();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].0, "model");
        let e = parse(serde_json::json!({"backend": "fasttext", "model": "/nonexistent/lid.176.bin"})).unwrap().validate();
        assert!(e[0].1.contains("/nonexistent/lid.176.bin"), "{e:?}");
        let e = parse(serde_json::json!({"model": "x.bin"})).unwrap().validate();
        assert!(e[0].1.contains("only the `fasttext` backend"), "{e:?}");
        let e = parse(serde_json::json!({"max_chars": 0})).unwrap().validate();
        assert_eq!(e[0].0, "max_chars");
    }
}

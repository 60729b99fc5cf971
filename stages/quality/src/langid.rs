//! Language identification.
//!
//! Backed by [whatlang](https://crates.io/crates/whatlang): 69 languages
//! from script detection plus character-trigram profiles, pure Rust, no
//! model file to load (its profiles are ~0.8 MB of source compiled in) and
//! it builds in seconds. lingua is more accurate on short text but needs
//! tens of MB of models per language set and minutes of build; fastText
//! (what datatrove uses) needs a 900 MB model downloaded at run time.
//!
//! Labels are ISO 639-1 codes where one exists (`en`, `zh`, `ja`, `de`,
//! ...), ISO 639-3 otherwise. Chinese is always `zh`; its script goes into
//! the `zh_script` metadata, `hans` (simplified) or `hant` (traditional),
//! decided by counting characters that exist in only one of the two
//! scripts. A keep-list entry `zh-Hans`/`zh-Hant` selects one script.

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

/// Configuration of the `language` stage. It writes the metadata
/// `language` (and `zh_script` for Chinese) and the attribute
/// `language_score` (whatlang's confidence, 0 to 1).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct LanguageIdConfig {
    /// Languages to keep (`en`, `zh`, `zh-Hant`, ...): documents in another
    /// language are dropped (`language_not_kept`). Empty keeps every
    /// language. Default: empty.
    #[serde(default)]
    pub languages: Vec<String>,
    /// Drop documents whose score is below this (`language_low_score`).
    /// Default 0.65.
    #[serde(default = "d_score")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub min_score: f64,
    /// At most this many characters, from the middle of the text, are
    /// analysed (whatlang's cost grows with the text; 3000 characters
    /// decide the language of any document). Default 3000.
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
        if self.max_chars == 0 {
            e.push(("max_chars".into(), "must be at least 1".into()));
        }
        for (i, l) in self.languages.iter().enumerate() {
            if from_label(l).is_none() {
                e.push((
                    format!("languages[{i}]"),
                    format!("unknown language `{l}` (use ISO 639-1 or 639-3 codes, e.g. en, zh, zh-Hant, ja)"),
                ));
            }
        }
        e
    }

    pub fn build(&self) -> Filtered<LanguageId> {
        Filtered::single(LanguageId { cfg: self.clone(), detector: Detector::new() }, self.mode())
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
        Ok(LanguageId { cfg: self.clone(), detector: Detector::new() })
    }
}

/// The `language` stage.
pub struct LanguageId {
    cfg: LanguageIdConfig,
    detector: Detector,
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

fn char_count(s: &str) -> usize {
    s.as_bytes().iter().filter(|&&b| (b & 0xC0) != 0x80).count()
}

/// Our label for a whatlang language.
pub fn label(lang: Lang) -> &'static str {
    let c = lang.code();
    ISO1.iter().find(|(three, _)| *three == c).map(|(_, two)| *two).unwrap_or(c)
}

/// The whatlang language of a label (`en`, `eng`, `zh-Hant`).
fn from_label(l: &str) -> Option<Lang> {
    let base = l.split(['-', '_']).next().unwrap_or(l).to_ascii_lowercase();
    ISO1.iter().find(|(_, two)| *two == base).and_then(|(three, _)| Lang::from_code(*three)).or_else(|| Lang::from_code(base.as_str()))
}

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

impl LanguageId {
    /// Detect a text's language: (label, zh script if Chinese, score).
    pub fn detect(&self, text: &str) -> Option<(&'static str, Option<&'static str>, f64)> {
        // Long texts: analyse `max_chars` characters from the middle, where
        // main content is (navigation and footers sit at both ends).
        let sample = if text.len() <= self.cfg.max_chars {
            text
        } else {
            let n = char_count(text);
            if n <= self.cfg.max_chars {
                text
            } else {
                let skip = (n - self.cfg.max_chars) / 2;
                let mut it = text.char_indices().skip(skip);
                let a = it.next().map(|(i, _)| i).unwrap_or(0);
                let b = it.nth(self.cfg.max_chars - 2).map(|(i, _)| i).unwrap_or(text.len());
                &text[a..b]
            }
        };
        let info = self.detector.detect(sample)?;
        let mut lang = info.lang();
        // whatlang calls Han text with Japanese-style brackets (「」) Japanese;
        // Japanese prose without any kana does not exist, Chinese is all Han.
        if lang == Lang::Jpn && !sample.chars().any(|c| ('\u{3040}'..='\u{30ff}').contains(&c)) {
            lang = Lang::Cmn;
        }
        let lab = label(lang);
        let script = (lang == Lang::Cmn).then(|| chinese_script(sample));
        Some((lab, script, info.confidence()))
    }

    fn kept(&self, lab: &str, script: Option<&str>) -> bool {
        if self.cfg.languages.is_empty() {
            return true;
        }
        self.cfg.languages.iter().any(|want| {
            let mut parts = want.split(['-', '_']);
            let base = parts.next().unwrap_or(want);
            let base_ok = from_label(base).map(label) == Some(lab);
            match (parts.next(), script) {
                (None, _) => base_ok,
                (Some(s), Some(sc)) => base_ok && s.eq_ignore_ascii_case(sc),
                (Some(_), None) => base_ok,
            }
        })
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
        doc.metadata.insert("language".into(), lab.into());
        if let Some(s) = script {
            doc.metadata.insert("zh_script".into(), s.into());
        }
        doc.attributes.insert("language_score".into(), score);
        if signals.all() {
            return None;
        }
        if !self.kept(lab, script) {
            return Some(Reason::Static("language_not_kept"));
        }
        (score < self.cfg.min_score).then_some(Reason::Static("language_low_score"))
    }
}

impl sluice_pipeline::component::Component for LanguageIdConfig {
    const KIND: &'static str = "language";
    const ROLE: sluice_pipeline::Role = sluice_pipeline::Role::Stage;
    const ABOUT: &'static str =
        "Language ID (whatlang; zh with hans/hant script): writes `language` and `language_score`, can keep a list above a threshold";
    const SIGNAL_RULES: &'static [sluice_pipeline::component::SignalRule] = LanguageIdConfig::SIGNAL_RULES;

    fn validate(&self) -> Vec<(String, String)> {
        LanguageIdConfig::validate(self)
    }

    fn build(&self, cx: &sluice_pipeline::BuildContext) -> Result<sluice_pipeline::component::Built, Vec<sluice_pipeline::Diagnostic>> {
        let _ = cx;
        Ok(sluice_pipeline::component::Built::doc(LanguageIdConfig::build(self)))
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
}

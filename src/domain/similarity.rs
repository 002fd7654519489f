//! Whether two residents raised the same problem (重复诉求): ten residents
//! reporting one broken street light should be one case, not ten letters to
//! the same department. Only petitions of one office, category and community
//! are ever compared, so the score has to tell apart problems of one kind
//! (a light that is out from a lamp post that leans), not a light from a pipe.
//!
//! Residents word one problem very differently: 路灯不亮 and 晚上巷子里灯坏了没人修
//! share no two characters in a row, so character shingles alone cannot join
//! them. The score therefore has two parts:
//! - the concepts named (a light, broken, a water stoppage, noise late at
//!   night …), found through a small lexicon of how residents say them, as the
//!   Jaccard index of the two sets; this carries most of the weight;
//! - the Jaccard index of the character bigrams, with punctuation and filler
//!   characters dropped, which rewards shared wording (place names, objects)
//!   and decides alone where neither text names a known concept;
//!
//! and an equal, non-empty address adds a bonus. The threshold and the bonus
//! are configured (`[duplicates]`); docs/duplicates.md gives the figures measured at the
//! default on the labelled pairs in tests/fixtures/similarity/pairs.csv.

use std::cmp::Ordering;
use std::sync::LazyLock;

use aho_corasick::AhoCorasick;

/// When two petitions count as one problem (`[duplicates]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimilarityPolicy {
    /// A score at or above this joins a petition to an open case (0–1).
    pub threshold: f64,
    /// Added to the score when both addresses are given and equal.
    pub address_bonus: f64,
}

impl Default for SimilarityPolicy {
    fn default() -> Self {
        SimilarityPolicy {
            threshold: 0.3,
            address_bonus: 0.1,
        }
    }
}

impl SimilarityPolicy {
    /// Whether `a` and `b` are the same problem under this policy.
    pub fn same(&self, a: &Shingles, b: &Shingles) -> bool {
        self.score(a, b) >= self.threshold
    }

    /// The score of `a` against `b`, 0–1; symmetric.
    pub fn score(&self, a: &Shingles, b: &Shingles) -> f64 {
        let bigrams = jaccard(&a.bigrams, &b.bigrams);
        let text = if a.concepts == 0 && b.concepts == 0 {
            bigrams
        } else {
            let shared = (a.concepts & b.concepts).count_ones();
            let either = (a.concepts | b.concepts).count_ones();
            CONCEPT_WEIGHT * (f64::from(shared) / f64::from(either))
                + (1.0 - CONCEPT_WEIGHT) * bigrams
        };
        let address = if !a.address.is_empty() && a.address == b.address {
            self.address_bonus
        } else {
            0.0
        };
        (text + address).min(1.0)
    }
}

/// The share of the text score the concepts carry; the bigrams carry the rest.
/// Chosen on the labelled pairs: below it two wordings of one problem fall
/// under any threshold that keeps different problems apart.
const CONCEPT_WEIGHT: f64 = 0.7;

/// What a petition's text and address are compared by, computed once per
/// petition (and kept per open case) so that a new one is compared with many
/// open cases cheaply: the concepts as one bit each of `CONCEPTS`, the
/// bigrams sorted without repeats.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shingles {
    concepts: u64,
    bigrams: Vec<(char, char)>,
    address: String,
}

impl Shingles {
    /// The shingles of what a resident said (title and description as one
    /// text) and where.
    pub fn of(text: &str, address: &str) -> Shingles {
        let phrases = &*PHRASES;
        let concepts = phrases
            .finder
            .find_overlapping_iter(text)
            .fold(0u64, |named, found| {
                named | 1 << phrases.concept[found.pattern().as_usize()]
            });
        let chars: Vec<char> = text
            .chars()
            .filter(|c| c.is_alphanumeric() && !FILLER.contains(*c))
            .flat_map(char::to_lowercase)
            .collect();
        let mut bigrams: Vec<(char, char)> = match chars.as_slice() {
            [only] => vec![(*only, ' ')],
            _ => chars.windows(2).map(|w| (w[0], w[1])).collect(),
        };
        bigrams.sort_unstable();
        bigrams.dedup();
        let address = address
            .chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect();
        Shingles {
            concepts,
            bigrams,
            address,
        }
    }
}

/// The Jaccard index of two sorted lists without repeats, in one walk.
fn jaccard<T: Ord>(a: &[T], b: &[T]) -> f64 {
    let (mut i, mut j, mut shared) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            Ordering::Less => i += 1,
            Ordering::Greater => j += 1,
            Ordering::Equal => {
                shared += 1;
                i += 1;
                j += 1;
            }
        }
    }
    let union = a.len() + b.len() - shared;
    if union == 0 {
        return 0.0;
    }
    shared as f64 / union as f64
}

/// Every phrase of `CONCEPTS` in one automaton, so a text is read once for
/// all of them, and the concept (its index, its bit) each phrase names.
struct Phrases {
    finder: AhoCorasick,
    concept: Vec<u32>,
}

static PHRASES: LazyLock<Phrases> = LazyLock::new(|| {
    const _: () = assert!(CONCEPTS.len() <= 64, "a concept is one bit of a u64");
    let (phrases, concept): (Vec<&str>, Vec<u32>) = CONCEPTS
        .iter()
        .zip(0u32..)
        .flat_map(|((_, says), n)| says.iter().map(move |s| (*s, n)))
        .unzip();
    Phrases {
        finder: AhoCorasick::new(phrases).expect("the concepts' phrases make an automaton"),
        concept,
    }
});

/// Characters that say nothing about the problem: particles, pronouns and
/// degree words every complaint is full of.
const FILLER: &str = "的了是在有我们这那个一都也还就很太和与及吗呢吧啊呀";

/// The concepts residents' complaints name, each with the ways they say it.
/// A text names a concept when it contains any of its phrases. Objects and
/// what is wrong with them are separate concepts, so a light that is out and
/// a light that stays on by day share one concept of two.
const CONCEPTS: &[(&str, &[&str])] = &[
    ("light", &["路灯", "灯"]),
    (
        "broken",
        &[
            "坏",
            "故障",
            "损坏",
            "失灵",
            "毛病",
            "破损",
            "不亮",
            "黑漆漆",
            "黑乎乎",
            "是黑的",
            "摸黑",
            "熄了",
            "灭了",
        ],
    ),
    ("on-by-day", &["白天", "不关", "不熄灭", "开着", "浪费电"]),
    ("flicker", &["闪", "忽明忽暗", "频闪", "接触不良"]),
    ("pole", &["灯杆", "路灯杆", "电线杆"]),
    ("leaning", &["歪", "斜", "倾斜", "扶正", "要倒", "快倒"]),
    (
        "no-water",
        &["停水", "没水", "断水", "没有水", "一滴水", "还没来水"],
    ),
    (
        "water-pressure",
        &[
            "水压",
            "出水",
            "高层",
            "高楼层",
            "楼上几层",
            "水小",
            "跟线一样",
        ],
    ),
    (
        "water-quality",
        &[
            "发黄",
            "是黄的",
            "黄黄",
            "黄色",
            "浑浊",
            "铁锈",
            "生锈",
            "沉淀",
            "颜色不对",
            "不敢喝",
        ],
    ),
    (
        "burst-main",
        &["爆了", "爆管", "冒水", "涌水", "破裂", "管子破", "水管破"],
    ),
    ("leak", &["漏", "渗", "滴水"]),
    ("heating", &["暖气", "供暖", "取暖"]),
    (
        "cold",
        &["不热", "冰凉", "温度太低", "温度低", "冻", "冷", "十几度"],
    ),
    (
        "noise",
        &[
            "吵",
            "噪音",
            "声音大",
            "声音很大",
            "音响",
            "音乐",
            "音量",
            "扰民",
            "喧哗",
            "睡不着",
            "没法休息",
            "影响休息",
            "震天响",
        ],
    ),
    ("dancing", &["广场舞", "跳舞", "跳"]),
    (
        "building-site",
        &["工地", "施工", "打桩", "混凝土", "机器声"],
    ),
    (
        "late-night",
        &[
            "半夜",
            "深夜",
            "凌晨",
            "夜里",
            "夜宵",
            "两三点",
            "十二点",
            "十点",
        ],
    ),
    ("barbecue", &["烧烤", "夜宵", "划拳", "喝酒"]),
    ("restaurant", &["餐馆", "饭店", "饭馆"]),
    ("fumes", &["油烟", "排烟", "熏"]),
    ("fire-lane", &["消防通道", "消防车", "着火", "起火"]),
    (
        "parking",
        &[
            "停车",
            "车位",
            "乱停",
            "私家车",
            "面包车",
            "停满车",
            "停了",
            "停在",
            "车堵",
            "车辆",
        ],
    ),
    (
        "abandoned-car",
        &[
            "僵尸车",
            "破车",
            "废弃",
            "废旧车",
            "没动过",
            "长期停放",
            "瘪",
            "拖走",
            "落满",
        ],
    ),
    (
        "doorway",
        &[
            "单元门",
            "楼道口",
            "挡住",
            "堵着",
            "出入",
            "进出",
            "出不去",
            "开不进",
        ],
    ),
    ("tree", &["树"]),
    (
        "overgrown",
        &[
            "遮", "挡光", "阳光", "修剪", "茂盛", "伸进", "拍打", "太长", "太高", "招虫",
        ],
    ),
    ("dead-tree", &["枯", "死树", "死了", "倒塌", "砍", "裂开"]),
    ("power-line", &["电线", "漏电", "火花", "噼啪"]),
    ("rubbish", &["垃圾", "渣土"]),
    (
        "collection",
        &[
            "清运",
            "拉走",
            "清理",
            "满出来",
            "堆成山",
            "苍蝇",
            "老鼠",
            "垃圾站",
            "垃圾房",
            "垃圾桶",
        ],
    ),
    (
        "clutter",
        &[
            "杂物",
            "纸箱",
            "旧家具",
            "废品",
            "占满",
            "堆放",
            "楼梯间",
            "堆满",
        ],
    ),
    (
        "building-waste",
        &[
            "装修",
            "建筑垃圾",
            "砖头",
            "水泥",
            "渣土",
            "乱倒",
            "倒在",
            "倒满",
            "谁倒",
        ],
    ),
    ("sewage", &["下水道", "污水", "化粪池", "反味", "外溢"]),
    ("manhole", &["井盖", "下水井", "只剩个洞"]),
    (
        "road-surface",
        &["路面", "坑", "积水", "道路", "硬化", "路烂", "摔"],
    ),
    (
        "lift",
        &["电梯", "困了人", "关在里面", "爬楼梯", "停运", "异响"],
    ),
    (
        "power-cut",
        &["停电", "断电", "跳闸", "停了三次电", "电器", "冰箱"],
    ),
    ("dog", &["狗", "犬"]),
    (
        "unleashed",
        &["牵绳", "拴", "绳", "狗链", "咬", "追着", "乱跑"],
    ),
    ("dog-mess", &["屎", "粪", "便便", "踩到"]),
    ("smell", &["臭", "味道", "异味", "怪味", "气味"]),
    (
        "unlawful-building",
        &[
            "违建",
            "违章",
            "搭建",
            "私搭",
            "加盖",
            "彩钢房",
            "盖了",
            "越盖",
        ],
    ),
    ("rooftop", &["楼顶", "屋顶", "顶楼"]),
    ("gas", &["煤气", "天然气", "燃气", "漏气", "泄漏", "臭鸡蛋"]),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn score(a: &str, b: &str) -> f64 {
        SimilarityPolicy::default().score(&Shingles::of(a, ""), &Shingles::of(b, ""))
    }

    #[test]
    fn one_problem_worded_twice_is_the_same() {
        let policy = SimilarityPolicy::default();
        let a = Shingles::of("路灯不亮", "");
        let b = Shingles::of("晚上巷子里灯坏了没人修", "");
        assert!(policy.same(&a, &b), "{}", policy.score(&a, &b));
    }

    #[test]
    fn two_problems_of_one_kind_are_not() {
        let policy = SimilarityPolicy::default();
        let out = Shingles::of("路灯不亮", "");
        let leaning = Shingles::of("3栋门口的路灯杆歪了，感觉随时要倒", "");
        let on_by_day = Shingles::of("滨河路的路灯白天也一直亮着", "");
        assert!(
            !policy.same(&out, &leaning),
            "{}",
            policy.score(&out, &leaning)
        );
        assert!(
            !policy.same(&out, &on_by_day),
            "{}",
            policy.score(&out, &on_by_day)
        );
    }

    #[test]
    fn the_score_is_symmetric_bounded_and_one_for_the_same_text() {
        let a = "5栋从昨天早上开始停水，到现在还没来水";
        let b = "我们楼一滴水都没有，做饭洗澡都成问题";
        assert_eq!(score(a, b), score(b, a));
        assert_eq!(score(a, a), 1.0);
        assert_eq!(score("", ""), 0.0);
        let p = SimilarityPolicy {
            address_bonus: 0.5,
            ..Default::default()
        };
        assert_eq!(
            p.score(&Shingles::of(a, "5栋"), &Shingles::of(a, "5栋")),
            1.0
        );
    }

    #[test]
    fn an_equal_address_raises_the_score_and_an_empty_one_does_not() {
        let p = SimilarityPolicy::default();
        let (a, b) = ("楼道里暖气管漏水", "楼道很滑，地上全是水");
        let bare = p.score(&Shingles::of(a, ""), &Shingles::of(b, ""));
        let same = p.score(
            &Shingles::of(a, "杨柳社区 7栋"),
            &Shingles::of(b, "杨柳社区7栋"),
        );
        let other = p.score(
            &Shingles::of(a, "杨柳社区7栋"),
            &Shingles::of(b, "杨柳社区8栋"),
        );
        let empty = p.score(&Shingles::of(a, ""), &Shingles::of(b, ""));
        assert!(
            (same - bare - p.address_bonus).abs() < 1e-9,
            "{bare} {same}"
        );
        assert_eq!(other, bare);
        assert_eq!(empty, bare);
    }

    #[test]
    fn without_known_concepts_the_wording_decides() {
        assert_eq!(score("社区活动室开放时间", "社区活动室开放时间"), 1.0);
        assert!(score("社区活动室开放时间", "希望增加公交班次") < 0.1);
    }
}

/// The score measured on the labelled pairs shipped with the tests.
#[cfg(test)]
mod measured {
    use super::*;

    const PAIRS: &str = include_str!("../../tests/fixtures/similarity/pairs.csv");

    /// What docs/duplicates.md states for the default threshold; a change to the
    /// lexicon or the weights that loses more than this fails here.
    const PRECISION_FLOOR: f64 = 0.95;
    const RECALL_FLOOR: f64 = 0.95;

    #[derive(Debug, Default)]
    struct Counts {
        true_pos: u32,
        false_pos: u32,
        false_neg: u32,
        true_neg: u32,
    }

    impl Counts {
        fn precision(&self) -> f64 {
            f64::from(self.true_pos) / f64::from(self.true_pos + self.false_pos)
        }
        fn recall(&self) -> f64 {
            f64::from(self.true_pos) / f64::from(self.true_pos + self.false_neg)
        }
    }

    /// The score as first defined: each phrase looked for on its own, the
    /// sets as sets. The automaton and the sorted lists must give it exactly.
    fn plain_score(policy: &SimilarityPolicy, a: (&str, &str), b: (&str, &str)) -> f64 {
        use std::collections::BTreeSet;
        fn jaccard<T: Ord>(x: &BTreeSet<T>, y: &BTreeSet<T>) -> f64 {
            let union = x.union(y).count();
            if union == 0 {
                return 0.0;
            }
            x.intersection(y).count() as f64 / union as f64
        }
        let concepts = |text: &str| -> BTreeSet<&str> {
            CONCEPTS
                .iter()
                .filter(|(_, says)| says.iter().any(|s| text.contains(s)))
                .map(|(concept, _)| *concept)
                .collect()
        };
        let bigrams = |text: &str| -> BTreeSet<(char, char)> {
            let chars: Vec<char> = text
                .chars()
                .filter(|c| c.is_alphanumeric() && !FILLER.contains(*c))
                .flat_map(char::to_lowercase)
                .collect();
            match chars.as_slice() {
                [only] => BTreeSet::from([(*only, ' ')]),
                _ => chars.windows(2).map(|w| (w[0], w[1])).collect(),
            }
        };
        let (ca, cb) = (concepts(a.0), concepts(b.0));
        let words = jaccard(&bigrams(a.0), &bigrams(b.0));
        let text = if ca.is_empty() && cb.is_empty() {
            words
        } else {
            CONCEPT_WEIGHT * jaccard(&ca, &cb) + (1.0 - CONCEPT_WEIGHT) * words
        };
        let address = Shingles::of("", a.1).address;
        let bonus = if !address.is_empty() && address == Shingles::of("", b.1).address {
            policy.address_bonus
        } else {
            0.0
        };
        (text + bonus).min(1.0)
    }

    #[test]
    fn the_score_is_the_plain_definition_on_every_labelled_pair() {
        let policy = SimilarityPolicy::default();
        let mut reader = csv::ReaderBuilder::new()
            .comment(Some(b'#'))
            .from_reader(PAIRS.as_bytes());
        for row in reader.records() {
            let row = row.expect("a well-formed row");
            let (a, b) = ((&row[1], &row[2]), (&row[3], &row[4]));
            let fast = policy.score(&Shingles::of(a.0, a.1), &Shingles::of(b.0, b.1));
            assert_eq!(fast, plain_score(&policy, a, b), "{a:?} | {b:?}");
        }
    }

    fn measure(policy: &SimilarityPolicy) -> (Counts, Vec<String>) {
        let mut reader = csv::ReaderBuilder::new()
            .comment(Some(b'#'))
            .from_reader(PAIRS.as_bytes());
        let mut counts = Counts::default();
        let mut misses = Vec::new();
        for row in reader.records() {
            let row = row.expect("a well-formed row");
            let (label, a, a_address, b, b_address) = (&row[0], &row[1], &row[2], &row[3], &row[4]);
            let same = match label {
                "same" => true,
                "different" => false,
                other => panic!("label {other:?}"),
            };
            let score = policy.score(&Shingles::of(a, a_address), &Shingles::of(b, b_address));
            let said = score >= policy.threshold;
            match (said, same) {
                (true, true) => counts.true_pos += 1,
                (true, false) => counts.false_pos += 1,
                (false, true) => counts.false_neg += 1,
                (false, false) => counts.true_neg += 1,
            }
            if said != same {
                misses.push(format!("{label} {score:.2}: {a} | {b}"));
            }
        }
        (counts, misses)
    }

    #[test]
    fn the_labelled_pairs_are_enough_and_of_both_kinds() {
        let (c, _) = measure(&SimilarityPolicy::default());
        let same = c.true_pos + c.false_neg;
        let different = c.false_pos + c.true_neg;
        assert!(same + different >= 200, "{c:?}");
        assert!(same >= 80 && different >= 80, "{c:?}");
    }

    #[test]
    fn precision_and_recall_at_the_default_threshold_hold_their_floors() {
        let (c, misses) = measure(&SimilarityPolicy::default());
        let (p, r) = (c.precision(), c.recall());
        // Printed for the figures in docs/duplicates.md (`-- --nocapture`).
        println!("precision {p:.3}, recall {r:.3}: {c:?}");
        assert!(
            p >= PRECISION_FLOOR && r >= RECALL_FLOOR,
            "precision {p:.3}, recall {r:.3} ({c:?}); misjudged:\n{}",
            misses.join("\n")
        );
    }

    #[test]
    fn the_threshold_trades_recall_for_precision() {
        let at = |threshold| {
            measure(&SimilarityPolicy {
                threshold,
                ..Default::default()
            })
            .0
        };
        let (loose, strict) = (at(0.2), at(0.4));
        assert!(loose.recall() >= strict.recall() && loose.precision() < strict.precision());
        assert!(
            strict.false_pos == 0 && loose.false_neg == 0,
            "{loose:?} {strict:?}"
        );
    }
}

//! Pronounceable generated names for artists and titles, from syllables and small word lists.

use rand::Rng;

const ONSETS: &[&str] = &[
    "b", "br", "c", "ch", "d", "dr", "f", "fl", "g", "gr", "h", "j", "k", "kr", "l", "m", "n", "p",
    "pr", "r", "s", "sh", "st", "t", "tr", "v", "w", "z", "",
];
const VOWELS: &[&str] = &[
    "a", "e", "i", "o", "u", "ai", "ea", "io", "ou", "ei", "ia", "y",
];
const CODAS: &[&str] = &["", "", "", "n", "r", "l", "s", "th", "x", "m", "nd", "rk"];
const BAND_NOUNS: &[&str] = &[
    "Tides",
    "Wolves",
    "Lanterns",
    "Engines",
    "Saints",
    "Echoes",
    "Horizons",
    "Ravens",
    "Mirrors",
    "Orchids",
    "Pilots",
    "Embers",
    "Foxes",
    "Comets",
    "Rivers",
    "Ghosts",
    "Giants",
    "Satellites",
    "Arrows",
    "Violets",
];
const ADJECTIVES: &[&str] = &[
    "Silver", "Midnight", "Golden", "Broken", "Electric", "Quiet", "Burning", "Hollow", "Velvet",
    "Lonely", "Northern", "Crimson", "Paper", "Wild", "Secret", "Falling", "Endless", "Neon",
    "Bitter", "Gentle", "Restless", "Distant", "Frozen", "Sweet", "Savage", "Blue", "Little",
    "Last", "Summer", "Shadow",
];
const NOUNS: &[&str] = &[
    "Rain", "Heart", "Highway", "Dream", "Fire", "River", "City", "Moon", "Ocean", "Road", "Light",
    "Garden", "Storm", "Night", "Dance", "Letter", "Mountain", "Machine", "Love", "Window",
    "Morning", "Echo", "Stranger", "Kingdom", "Song", "Island", "Train", "Mirror", "Sky", "Ghost",
];
const PATTERNS: &[&str] = &[
    "{a} {n}",
    "{n}",
    "The {a} {n}",
    "{n} of {n2}",
    "{a} {n} Blues",
    "{n} ({a} Mix)",
];

fn syllables(rng: &mut impl Rng, count: usize) -> String {
    let mut s = String::new();
    for _ in 0..count {
        s.push_str(ONSETS[rng.random_range(0..ONSETS.len())]);
        s.push_str(VOWELS[rng.random_range(0..VOWELS.len())]);
    }
    s.push_str(CODAS[rng.random_range(0..CODAS.len())]);
    capitalise(&s)
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn pick<'a>(rng: &mut impl Rng, list: &[&'a str]) -> &'a str {
    list[rng.random_range(0..list.len())]
}

/// An artist name such as "Velora Kaith" or "The Crimson Ravens". The caller de-duplicates.
pub fn artist(rng: &mut impl Rng) -> String {
    match rng.random_range(0..10) {
        0..=4 => {
            let first = rng.random_range(2..=3);
            let last = rng.random_range(1..=3);
            format!("{} {}", syllables(rng, first), syllables(rng, last))
        }
        5..=7 => format!("The {} {}", pick(rng, ADJECTIVES), pick(rng, BAND_NOUNS)),
        _ => {
            let n = rng.random_range(2..=3);
            syllables(rng, n)
        }
    }
}

/// A track title such as "Silver Rain" or "Highway of Dreams".
pub fn title(rng: &mut impl Rng) -> String {
    let p = pick(rng, PATTERNS);
    p.replace("{a}", pick(rng, ADJECTIVES))
        .replace("{n2}", pick(rng, NOUNS))
        .replace("{n}", pick(rng, NOUNS))
}

pub const GENRES: &[&str] = &[
    "rock",
    "pop",
    "hip hop",
    "electronic",
    "jazz",
    "classical",
    "country",
    "folk",
    "metal",
    "r&b",
    "soul",
    "blues",
    "reggae",
    "punk",
    "indie",
    "latin",
    "ambient",
    "house",
    "techno",
    "funk",
    "disco",
    "gospel",
    "k-pop",
    "soundtrack",
    "trap",
    "drum and bass",
    "ska",
    "grunge",
    "bossa nova",
    "afrobeat",
    "synthwave",
    "shoegaze",
];
pub const MOODS: &[&str] = &[
    "happy",
    "sad",
    "energetic",
    "calm",
    "dark",
    "romantic",
    "angry",
    "dreamy",
];

//! Number, size and time formatting, shared by the panes, the text output
//! and the kinds' descriptions of their sources.

use std::time::Duration;

/// `1234567` as `1,234,567`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Whether a job's plan knew its size. A kind that learns sizes only by
/// moving them (a ZFS stream) plans none: its entries and bytes are
/// counted as each item is checked, and no percentage of them means much.
/// A job with no items yet is taken to have one.
pub fn sized(items_total: u64, files_total: u64, bytes_total: u64) -> bool {
    items_total == 0 || files_total > 0 || bytes_total > 0
}

/// What a job without a planned size says instead (see [`sized`]).
pub fn unsized_note(unit: &str) -> String {
    format!("{unit} and sizes counted as each is checked")
}

/// A job's planned size for a header: `N UNIT{sep}SIZE`, or that entries
/// and sizes are counted as each item is checked (see [`sized`]).
pub fn planned(
    items_total: u64,
    files_total: u64,
    bytes_total: u64,
    unit: &str,
    sep: &str,
) -> String {
    if sized(items_total, files_total, bytes_total) {
        format!("{} {unit}{sep}{}", count(files_total), bytes(bytes_total))
    } else {
        unsized_note(unit)
    }
}

/// `1 item`, `2 items`.
pub fn items(n: u64) -> String {
    if n == 1 {
        "1 item".to_string()
    } else {
        format!("{} items", count(n))
    }
}

/// `n` of a unit given in the plural: `1 file`, `2 files`, `1 entry`,
/// `3 entries`.
pub fn counted(n: u64, plural: &str) -> String {
    if n != 1 {
        return format!("{n} {plural}");
    }
    let one = if let Some(stem) = plural.strip_suffix("ies") {
        format!("{stem}y")
    } else {
        plural.strip_suffix('s').unwrap_or(plural).to_string()
    };
    format!("1 {one}")
}

/// Bytes in binary units with one decimal: `1.5 GiB`, `0 B`.
pub fn bytes(n: u64) -> String {
    humansize::format_size(n, humansize::BINARY.decimal_places(1))
}

/// A rate in bytes per second: `42.1 MiB/s`.
pub fn rate(bytes_per_s: f64) -> String {
    let n = if bytes_per_s.is_finite() && bytes_per_s > 0.0 {
        bytes_per_s as u64
    } else {
        0
    };
    format!("{}/s", bytes(n))
}

/// Elapsed time as `mm:ss`, or `h:mm:ss` past an hour.
pub fn clock(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
    } else {
        format!("{:02}:{:02}", s / 60, s % 60)
    }
}

/// A remaining time in words: `45s`, `1m 08s`, `2h 05m`.
pub fn eta(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "unknown".to_string();
    }
    let s = secs.ceil() as u64;
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{}h {:02}m", s / 3600, (s / 60) % 60)
    }
}

/// `done / total` as a percentage, 0 when the total is 0.
pub fn percent(done: u64, total: u64) -> u64 {
    if total == 0 {
        0
    } else {
        (done.min(total) as u128 * 100 / total as u128) as u64
    }
}

/// Cut `s` to at most `width` characters, ending with `…` when cut.
pub fn clip(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(width - 1).collect();
    out.push('…');
    out
}

/// Cut `s` to at most `width` characters keeping its end (for paths).
pub fn clip_left(s: &str, width: usize) -> String {
    let n = s.chars().count();
    if n <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out = String::from("…");
    out.extend(s.chars().skip(n - (width - 1)));
    out
}

/// Cut `s` to at most `width` characters keeping its start and its end
/// (`3f2a9c…-openssl-1.0`), for long item names.
pub fn clip_middle(s: &str, width: usize) -> String {
    let n = s.chars().count();
    if n <= width {
        return s.to_string();
    }
    if width < 3 {
        return clip(s, width);
    }
    let head = (width - 1) / 3;
    let tail = width - 1 - head;
    let mut out: String = s.chars().take(head).collect();
    out.push('…');
    out.extend(s.chars().skip(n - tail));
    out
}

/// A ratio with two decimals and a times sign: `2.91×`.
pub fn ratio(r: f64) -> String {
    if r.is_finite() {
        format!("{r:.2}×")
    } else {
        "—".to_string()
    }
}

/// Word-wrap `text`: the first row holds `first` columns, the others `rest`.
/// Words longer than a row are split.
pub fn wrap_words(text: &str, first: usize, rest: usize) -> Vec<String> {
    let mut rows: Vec<String> = vec![String::new()];
    for word in text.split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        loop {
            let width = if rows.len() == 1 { first } else { rest };
            let cur = rows.last_mut().map(|r| r.chars().count()).unwrap_or(0);
            let sep = usize::from(cur > 0);
            if cur + sep + word.len() <= width {
                if let Some(r) = rows.last_mut() {
                    if sep == 1 {
                        r.push(' ');
                    }
                    r.extend(word.iter());
                }
                break;
            }
            if cur == 0 {
                // The word alone is too long for a row: split it.
                let head: String = word.drain(..width.min(word.len())).collect();
                if let Some(r) = rows.last_mut() {
                    r.push_str(&head);
                }
                if word.is_empty() {
                    break;
                }
            }
            rows.push(String::new());
        }
    }
    rows
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    #[test]
    fn wrap_on_words() {
        use super::wrap_words as wrap;
        assert_eq!(wrap("a bb ccc", 4, 4), vec!["a bb", "ccc"]);
        assert_eq!(wrap("abcdefgh x", 3, 4), vec!["abc", "defg", "h x"]);
        assert_eq!(wrap("", 3, 3), vec![""]);
    }

    use super::*;

    #[test]
    fn counted_units_agree_with_their_number() {
        assert_eq!(counted(1, "files"), "1 file");
        assert_eq!(counted(2, "files"), "2 files");
        assert_eq!(counted(1, "entries"), "1 entry");
        assert_eq!(counted(0, "entries"), "0 entries");
        assert_eq!(counted(1, "warnings"), "1 warning");
    }

    #[test]
    fn formats() {
        assert_eq!(items(1), "1 item");
        assert_eq!(items(1200), "1,200 items");
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(clock(Duration::from_secs(62)), "01:02");
        assert_eq!(clock(Duration::from_secs(3723)), "1:02:03");
        assert_eq!(eta(44.2), "45s");
        assert_eq!(eta(68.0), "1m 08s");
        assert_eq!(eta(7500.0), "2h 05m");
        assert_eq!(eta(f64::INFINITY), "unknown");
        assert_eq!(percent(1, 3), 33);
        assert_eq!(percent(5, 0), 0);
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abc", 4), "abc");
        assert_eq!(clip_left("/a/b/c/d", 5), "…/c/d");
        assert_eq!(clip_middle("0123456789-zlib-1.2", 10), "012…ib-1.2");
        assert_eq!(clip_middle("short", 10), "short");
        assert_eq!(ratio(2.914), "2.91×");
    }
}

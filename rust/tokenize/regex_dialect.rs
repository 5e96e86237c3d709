//! Translating pre-tokenizer regexes between fancy-regex (tiktoken, seqfast) and Oniguruma's
//! Ruby syntax (Hugging Face `tokenizer.json`), where the same text means different things:
//!
//! | construct  | fancy-regex            | Oniguruma (Ruby)                 |
//! |------------|------------------------|----------------------------------|
//! | `X{1,3}+`  | possessive `{1,3}`     | `(?:X{1,3})+`: repeated          |
//! | `$`, `^`   | end / start of text    | end / start of any line          |
//!
//! Writing a file we emit `(?>X{1,3})`, `\z` and `\A`, which both engines read alike; reading
//! one we rewrite `X{n,m}+` as `(?:X{n,m})+` and match in multi-line mode. Everything else
//! (possessive `?+ *+ ++`, look-around, atomic groups, `\p{..}`) means the same in both.
//! The scanner understands escapes, character classes and groups; it never fails: text it does
//! not recognise is copied unchanged, and the regex compiler reports real syntax errors.

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    ToOnig,
    FromOnig,
}

/// A fancy-regex pattern rewritten so that Oniguruma matches exactly the same pieces.
pub fn to_onig(re: &str) -> String {
    rewrite(re, Mode::ToOnig)
}

/// An Oniguruma (Ruby syntax) pattern rewritten for fancy-regex, without the multi-line flag
/// (the caller wraps it in `(?m:...)`).
pub fn from_onig(re: &str) -> String {
    rewrite(re, Mode::FromOnig)
}

fn rewrite(re: &str, mode: Mode) -> String {
    let cs: Vec<char> = re.chars().collect();
    let mut out = String::with_capacity(re.len() + 16);
    let mut i = 0;
    seq(&cs, &mut i, mode, &mut out);
    // Unbalanced ')' at top level: copy the rest verbatim (the compiler will complain).
    while i < cs.len() {
        out.push(cs[i]);
        i += 1;
    }
    out
}

/// End (exclusive) of the escape starting at `i` (`cs[i] == '\\'`).
fn escape_end(cs: &[char], i: usize) -> usize {
    let Some(&c) = cs.get(i + 1) else { return cs.len() };
    if matches!(c, 'p' | 'P' | 'x' | 'u') && cs.get(i + 2) == Some(&'{') {
        return cs[i + 2..].iter().position(|&x| x == '}').map_or(cs.len(), |k| i + 3 + k);
    }
    i + 2
}

/// End (exclusive) of the character class starting at `i` (`cs[i] == '['`).
fn class_end(cs: &[char], i: usize) -> usize {
    let mut j = i + 1;
    if cs.get(j) == Some(&'^') {
        j += 1;
    }
    if cs.get(j) == Some(&']') {
        j += 1; // a leading ']' is literal
    }
    while j < cs.len() {
        match cs[j] {
            '\\' => j = escape_end(cs, j),
            '[' => j = class_end(cs, j), // nested class or [:alpha:]
            ']' => return j + 1,
            _ => j += 1,
        }
    }
    cs.len()
}

/// If an interval quantifier `{n}`, `{n,}`, `{n,m}` starts at `i`, its end (exclusive).
fn interval_end(cs: &[char], i: usize) -> Option<usize> {
    let mut j = i + 1;
    let digits = |j: &mut usize| {
        let s = *j;
        while *j < cs.len() && cs[*j].is_ascii_digit() {
            *j += 1;
        }
        *j > s
    };
    if !digits(&mut j) {
        return None;
    }
    if cs.get(j) == Some(&',') {
        j += 1;
        digits(&mut j);
    }
    (cs.get(j) == Some(&'}')).then_some(j + 1)
}

/// Copy a sequence until an unmatched ')' (left at `*i`) or the end.
fn seq(cs: &[char], i: &mut usize, mode: Mode, out: &mut String) {
    let mut atom: Option<usize> = None; // byte index in `out` where the last atom starts
    while *i < cs.len() {
        let c = cs[*i];
        match c {
            ')' => return,
            '\\' => {
                let e = escape_end(cs, *i);
                atom = Some(out.len());
                out.extend(&cs[*i..e]);
                *i = e;
            }
            '[' => {
                let e = class_end(cs, *i);
                atom = Some(out.len());
                out.extend(&cs[*i..e]);
                *i = e;
            }
            '(' => {
                let start = out.len();
                out.push('(');
                *i += 1;
                // Group prefix such as ?: ?i: ?= ?! ?<= ?<! ?> ?P<name> ?<name> (?flags)
                if cs.get(*i) == Some(&'?') {
                    while *i < cs.len() && !matches!(cs[*i], ':' | ')' | '=' | '!' | '>') {
                        out.push(cs[*i]);
                        *i += 1;
                    }
                    if *i < cs.len() && cs[*i] != ')' {
                        out.push(cs[*i]);
                        *i += 1;
                    }
                }
                seq(cs, i, mode, out);
                if *i < cs.len() {
                    out.push(')');
                    *i += 1;
                }
                atom = Some(start);
            }
            '$' if mode == Mode::ToOnig => {
                out.push_str("\\z");
                atom = None;
                *i += 1;
            }
            '^' if mode == Mode::ToOnig => {
                out.push_str("\\A");
                atom = None;
                *i += 1;
            }
            '{' => match (interval_end(cs, *i), atom) {
                (Some(e), Some(a)) => {
                    let q: String = cs[*i..e].iter().collect();
                    if cs.get(e) == Some(&'+') {
                        let body = out.split_off(a);
                        match mode {
                            Mode::ToOnig => out.push_str(&format!("(?>{body}{q})")),
                            Mode::FromOnig => out.push_str(&format!("(?:{body}{q})+")),
                        }
                        *i = e + 1;
                    } else {
                        out.push_str(&q);
                        *i = e;
                    }
                    atom = None;
                }
                _ => {
                    atom = Some(out.len());
                    out.push('{');
                    *i += 1;
                }
            },
            '*' | '+' | '?' | '|' => {
                out.push(c);
                atom = None;
                *i += 1;
            }
            _ => {
                atom = Some(out.len());
                out.push(c);
                *i += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_and_anchors() {
        assert_eq!(to_onig(r"\p{N}{1,3}+|\s++$|a"), r"(?>\p{N}{1,3})|\s++\z|a");
        assert_eq!(from_onig(r"\p{N}{1,3}+|x"), r"(?:\p{N}{1,3})+|x");
        assert_eq!(to_onig(r"(?i:ab){2}+[$^{]^"), r"(?>(?i:ab){2})[$^{]\A");
        assert_eq!(to_onig(r"a{x}b{,2}"), r"a{x}b{,2}");
        assert_eq!(from_onig(r"[^\s\p{L}]{1,3}+"), r"(?:[^\s\p{L}]{1,3})+");
        assert_eq!(to_onig(r"\$\^x{2}?"), r"\$\^x{2}?");
    }

    #[test]
    fn fancy_accepts_both_directions() {
        for re in [super::super::pattern::CL100K, super::super::pattern::GPT2, super::super::pattern::O200K] {
            fancy_regex::Regex::new(&to_onig(re)).unwrap();
            fancy_regex::Regex::new(&from_onig(re)).unwrap();
        }
    }
}

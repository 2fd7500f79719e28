//! A unified diff of two normalised policies, for the dry run's report: lines in common by
//! longest common subsequence (policies are a few hundred lines at most, so the quadratic table
//! is small), hunks with three lines of context, headed `@@ -a,b +c,d @@` as `diff -u` writes.

const CONTEXT: usize = 3;

/// The diff from `old` to `new` under `--- {old_label}` / `+++ {new_label}`; empty when equal.
pub fn unified(old: &str, new: &str, old_label: &str, new_label: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let edits = edits(&a, &b);
    if edits.iter().all(|e| matches!(e, Edit::Same(..))) {
        return String::new();
    }
    let mut out = format!("--- {old_label}\n+++ {new_label}\n");
    // Indices of changed edits, grouped into hunks whose context overlaps.
    let changed: Vec<usize> = (0..edits.len())
        .filter(|&i| !matches!(edits[i], Edit::Same(..)))
        .collect();
    let mut groups: Vec<(usize, usize)> = Vec::new();
    for &i in &changed {
        let start = i.saturating_sub(CONTEXT);
        let end = (i + CONTEXT + 1).min(edits.len());
        match groups.last_mut() {
            Some(g) if start <= g.1 => g.1 = end,
            _ => groups.push((start, end)),
        }
    }
    for (start, end) in groups {
        let (mut old_start, mut new_start) = (1, 1);
        for e in &edits[..start] {
            match e {
                Edit::Same(..) => {
                    old_start += 1;
                    new_start += 1;
                }
                Edit::Del(_) => old_start += 1,
                Edit::Add(_) => new_start += 1,
            }
        }
        let slice = &edits[start..end];
        let old_len = slice.iter().filter(|e| !matches!(e, Edit::Add(_))).count();
        let new_len = slice.iter().filter(|e| !matches!(e, Edit::Del(_))).count();
        // `diff -u` numbers an empty side by the line before it.
        let os = if old_len == 0 {
            old_start - 1
        } else {
            old_start
        };
        let ns = if new_len == 0 {
            new_start - 1
        } else {
            new_start
        };
        out.push_str(&format!("@@ -{os},{old_len} +{ns},{new_len} @@\n"));
        for e in slice {
            match e {
                Edit::Same(l) => out.push_str(&format!(" {l}\n")),
                Edit::Del(l) => out.push_str(&format!("-{l}\n")),
                Edit::Add(l) => out.push_str(&format!("+{l}\n")),
            }
        }
    }
    out
}

enum Edit<'a> {
    Same(&'a str),
    Del(&'a str),
    Add(&'a str),
}

fn edits<'a>(a: &[&'a str], b: &[&'a str]) -> Vec<Edit<'a>> {
    // lcs[i][j]: length of the common subsequence of a[i..] and b[j..].
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(a.len() + b.len());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push(Edit::Same(a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            // Removals before additions, as `diff -u` lists them.
            out.push(Edit::Del(a[i]));
            i += 1;
        } else {
            out.push(Edit::Add(b[j]));
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hunks_as_diff_u_writes_them() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n";
        let new = "a\nb\nc\nd\nE\nf\ng\nh\ni\nj\nk\n";
        assert_eq!(
            unified(old, new, "old", "new"),
            "--- old\n+++ new\n@@ -2,9 +2,10 @@\n b\n c\n d\n-e\n+E\n f\n g\n h\n i\n j\n+k\n"
        );
        let far = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n";
        let d = unified(
            far,
            &far.replace("2\n", "two\n").replace("11\n", "eleven\n"),
            "o",
            "n",
        );
        assert_eq!(d.matches("@@ -").count(), 2, "{d}");
        assert!(d.contains("@@ -1,5 +1,5 @@\n 1\n-2\n+two\n 3\n"), "{d}");
    }

    #[test]
    fn equal_is_empty_and_new_from_nothing_counts_from_zero() {
        assert_eq!(unified("x\n", "x\n", "o", "n"), "");
        assert_eq!(
            unified("", "x\ny\n", "o", "n"),
            "--- o\n+++ n\n@@ -0,0 +1,2 @@\n+x\n+y\n"
        );
    }
}

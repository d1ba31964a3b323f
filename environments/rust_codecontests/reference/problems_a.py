"""Problems, part A: statement, public examples, a hidden-test generator, a Python and a Rust solution."""

from __future__ import annotations

import heapq
import math
from collections import Counter

P: list[dict] = []


def problem(pid, title, statement, examples, gen, rust):
    def deco(solve):
        P.append(dict(id=pid, title=title, statement=statement, examples=examples, gen=gen, solve=solve, rust=rust))
        return solve

    return deco


def ints(s):
    return list(map(int, s.split()))


def arr_input(n, vals):
    return f"{n}\n{' '.join(map(str, vals))}\n"


PRE = """use std::io::{self, Read, Write};
#[allow(unused_macros)]
fn main() {
    let mut s = String::new();
    io::stdin().read_to_string(&mut s).unwrap();
    #[allow(unused_mut, unused_variables)]
    let mut it = s.split_ascii_whitespace();
    #[allow(unused_macros)]
    macro_rules! rd { ($t:ty) => { it.next().unwrap().parse::<$t>().unwrap() }; }
    let out = io::stdout();
    #[allow(unused_mut, unused_variables)]
    let mut out = io::BufWriter::new(out.lock());
"""


def R(body: str) -> str:
    return PRE + body.strip("\n") + "\n}\n"


def g_arr(lo, hi, nmax):
    return lambda r: (lambda n: arr_input(n, [r.randint(lo, hi) for _ in range(n)]))(r.randint(1, nmax))


@problem(
    "sum_array",
    "Sum of an Array",
    "Given n integers, print their sum.\n\nInput: the first line holds n (1 <= n <= 10^5); the second line holds "
    "n integers a_i (|a_i| <= 10^9).\nOutput: one integer, the sum.",
    ["3\n1 2 3\n", "4\n-5 10 -3 7\n"],
    g_arr(-(10**9), 10**9, 1000),
    R("""
    let n = rd!(usize);
    let mut t: i64 = 0;
    for _ in 0..n { t += rd!(i64); }
    writeln!(out, "{}", t).unwrap();
"""),
)
def _(s):
    return str(sum(ints(s)[1:]))


@problem(
    "max_subarray",
    "Maximum Subarray Sum",
    "Given n integers, print the largest sum of a non-empty contiguous subarray.\n\nInput: n (1 <= n <= 10^5), "
    "then n integers a_i (|a_i| <= 10^9).\nOutput: the maximum subarray sum.",
    ["5\n-2 1 -3 4 -1\n", "3\n-5 -2 -7\n"],
    g_arr(-1000, 1000, 2000),
    R("""
    let n = rd!(usize);
    let mut best = i64::MIN;
    let mut cur: i64 = 0;
    for i in 0..n {
        let x = rd!(i64);
        cur = if i == 0 { x } else { x.max(cur + x) };
        best = best.max(cur);
    }
    writeln!(out, "{}", best).unwrap();
"""),
)
def _(s):
    a = ints(s)[1:]
    best, cur = a[0], a[0]
    for x in a[1:]:
        cur = max(x, cur + x)
        best = max(best, cur)
    return str(best)


@problem(
    "gcd_lcm",
    "GCD and LCM",
    "Given two positive integers a and b (1 <= a, b <= 10^9), print their greatest common divisor and their least "
    "common multiple, separated by a space.",
    ["12 18\n", "7 5\n"],
    lambda r: f"{r.randint(1, 10**9)} {r.randint(1, 10**9)}\n",
    R("""
    let a = rd!(u64);
    let b = rd!(u64);
    let (mut x, mut y) = (a, b);
    while y != 0 { let t = x % y; x = y; y = t; }
    writeln!(out, "{} {}", x, a / x * b).unwrap();
"""),
)
def _(s):
    a, b = ints(s)
    return f"{math.gcd(a, b)} {a * b // math.gcd(a, b)}"


@problem(
    "count_primes",
    "Primes up to n",
    "Print how many prime numbers are less than or equal to n.\n\nInput: one integer n (1 <= n <= 10^7).\n"
    "Output: the number of primes p <= n.",
    ["10\n", "1\n"],
    lambda r: f"{r.randint(1, 3 * 10**6)}\n",
    R("""
    let n = rd!(usize);
    let mut sieve = vec![true; n + 1];
    let mut c = 0;
    for i in 2..=n {
        if sieve[i] {
            c += 1;
            let mut j = i * i;
            while j <= n { sieve[j] = false; j += i; }
        }
    }
    writeln!(out, "{}", c).unwrap();
"""),
)
def _(s):
    n = int(s)
    if n < 2:
        return "0"
    sieve = bytearray([1]) * (n + 1)
    sieve[0] = sieve[1] = 0
    for i in range(2, int(n**0.5) + 1):
        if sieve[i]:
            sieve[i * i :: i] = bytearray(len(range(i * i, n + 1, i)))
    return str(sum(sieve))


def _word(r, lo=1, hi=20, alpha="abc"):
    return "".join(r.choice(alpha) for _ in range(r.randint(lo, hi)))


def _pal_gen(r):
    w = _word(r, 1, 30, "ab")
    return (w + w[::-1][r.randint(0, 1) :] if r.random() < 0.5 else w) + "\n"


@problem(
    "palindrome",
    "Palindrome Check",
    "Given a string of lowercase letters (length 1 to 10^5), print YES if it reads the same backwards, else NO.",
    ["racecar\n", "abca\n"],
    _pal_gen,
    R("""
    let w = rd!(String).into_bytes();
    let ok = w.iter().eq(w.iter().rev());
    writeln!(out, "{}", if ok { "YES" } else { "NO" }).unwrap();
"""),
)
def _(s):
    w = s.strip()
    return "YES" if w == w[::-1] else "NO"


def _br_gen(r):
    out, stack = [], []
    for _ in range(r.randint(1, 30)):
        if stack and r.random() < 0.45:
            out.append({"(": ")", "[": "]", "{": "}"}[stack.pop()])
        else:
            c = r.choice("([{")
            stack.append(c)
            out.append(c)
    while stack and r.random() < 0.9:
        out.append({"(": ")", "[": "]", "{": "}"}[stack.pop()])
    if r.random() < 0.3 and out:
        i = r.randrange(len(out))
        out[i] = r.choice("()[]{}")
    return "".join(out) + "\n"


@problem(
    "brackets",
    "Bracket Matching",
    "Given a non-empty string made of the characters ()[]{} (length <= 10^5), print YES if every bracket is "
    "closed by the matching bracket in the right order, else NO.",
    ["([]{})\n", "([)]\n"],
    _br_gen,
    R("""
    let w = rd!(String);
    let mut st: Vec<char> = Vec::new();
    let mut ok = true;
    for c in w.chars() {
        match c {
            '(' | '[' | '{' => st.push(c),
            _ => {
                let want = match c { ')' => '(', ']' => '[', _ => '{' };
                if st.pop() != Some(want) { ok = false; break; }
            }
        }
    }
    if !st.is_empty() { ok = false; }
    writeln!(out, "{}", if ok { "YES" } else { "NO" }).unwrap();
"""),
)
def _(s):
    st = []
    for c in s.strip():
        if c in "([{":
            st.append(c)
        elif not st or st.pop() != {")": "(", "]": "[", "}": "{"}[c]:
            return "NO"
    return "YES" if not st else "NO"


@problem(
    "cut_ropes",
    "Cutting Ropes",
    "You have n ropes of integer lengths a_i and want k pieces of the same integer length L >= 1, cut from the "
    "ropes (each piece from one rope; leftovers are thrown away). Print the largest possible L, or 0 if even L = 1 "
    "is impossible.\n\nInput: n and k (1 <= n <= 10^5, 1 <= k <= 10^9), then n integers a_i (1 <= a_i <= 10^9).\n"
    "Output: the largest L.",
    ["4 11\n802 743 457 539\n", "2 10\n3 4\n"],
    lambda r: (lambda n: f"{n} {r.randint(1, 60)}\n{' '.join(str(r.randint(1, 1000)) for _ in range(n))}\n")(
        r.randint(1, 20)
    ),
    R("""
    let n = rd!(usize);
    let k = rd!(u64);
    let a: Vec<u64> = (0..n).map(|_| rd!(u64)).collect();
    let (mut lo, mut hi) = (0u64, 1_000_000_000u64);
    while lo < hi {
        let mid = (lo + hi + 1) / 2;
        let pieces: u64 = a.iter().map(|x| x / mid).sum();
        if pieces >= k { lo = mid; } else { hi = mid - 1; }
    }
    writeln!(out, "{}", lo).unwrap();
"""),
)
def _(s):
    v = ints(s)
    k, a = v[1], v[2:]
    lo, hi = 0, 10**9
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if sum(x // mid for x in a) >= k:
            lo = mid
        else:
            hi = mid - 1
    return str(lo)


def _grid_gen(r):
    h, w = r.randint(2, 8), r.randint(2, 8)
    g = [["#" if r.random() < 0.25 else "." for _ in range(w)] for _ in range(h)]
    cells = [(i, j) for i in range(h) for j in range(w)]
    (a, b), (c, d) = r.sample(cells, 2)
    g[a][b], g[c][d] = "S", "E"
    return f"{h} {w}\n" + "\n".join("".join(row) for row in g) + "\n"


@problem(
    "grid_bfs",
    "Shortest Path in a Grid",
    "A grid has h rows and w columns of cells: '.' free, '#' wall, 'S' start, 'E' exit (exactly one of each). "
    "Moving one step up, down, left or right to a non-wall cell takes one move. Print the fewest moves from S to "
    "E, or -1 if E cannot be reached.\n\nInput: h and w (2 <= h, w <= 1000), then h lines of w characters.\n"
    "Output: the number of moves or -1.",
    ["3 4\nS..#\n.#..\n...E\n", "2 3\nS#E\n.#.\n"],
    _grid_gen,
    R("""
    let h = rd!(usize);
    let w = rd!(usize);
    let g: Vec<Vec<u8>> = (0..h).map(|_| rd!(String).into_bytes()).collect();
    let mut dist = vec![vec![-1i64; w]; h];
    let mut q = std::collections::VecDeque::new();
    for i in 0..h { for j in 0..w { if g[i][j] == b'S' { dist[i][j] = 0; q.push_back((i, j)); } } }
    let mut ans = -1;
    while let Some((i, j)) = q.pop_front() {
        if g[i][j] == b'E' { ans = dist[i][j]; break; }
        let d = [(0i64, 1i64), (1, 0), (0, -1), (-1, 0)];
        for (di, dj) in d.iter() {
            let ni = i as i64 + di;
            let nj = j as i64 + dj;
            if ni < 0 || nj < 0 || ni >= h as i64 || nj >= w as i64 { continue; }
            let (ni, nj) = (ni as usize, nj as usize);
            if g[ni][nj] == b'#' || dist[ni][nj] >= 0 { continue; }
            dist[ni][nj] = dist[i][j] + 1;
            q.push_back((ni, nj));
        }
    }
    writeln!(out, "{}", ans).unwrap();
"""),
)
def _(s):
    lines = s.split()
    h, w = int(lines[0]), int(lines[1])
    g = lines[2 : 2 + h]
    start = next((i, j) for i in range(h) for j in range(w) if g[i][j] == "S")
    dist = {start: 0}
    q = [start]
    for i, j in q:
        if g[i][j] == "E":
            return str(dist[(i, j)])
        for a, b in ((i + 1, j), (i - 1, j), (i, j + 1), (i, j - 1)):
            if 0 <= a < h and 0 <= b < w and g[a][b] != "#" and (a, b) not in dist:
                dist[(a, b)] = dist[(i, j)] + 1
                q.append((a, b))
    return "-1"


@problem(
    "lis",
    "Longest Increasing Subsequence",
    "Print the length of the longest strictly increasing subsequence of the given sequence.\n\nInput: n "
    "(1 <= n <= 10^5), then n integers (|a_i| <= 10^9).\nOutput: the length.",
    ["6\n10 9 2 5 3 7\n", "4\n5 5 5 5\n"],
    g_arr(-50, 50, 300),
    R("""
    let n = rd!(usize);
    let mut tails: Vec<i64> = Vec::new();
    for _ in 0..n {
        let x = rd!(i64);
        let p = tails.partition_point(|&t| t < x);
        if p == tails.len() { tails.push(x); } else { tails[p] = x; }
    }
    writeln!(out, "{}", tails.len()).unwrap();
"""),
)
def _(s):
    import bisect

    tails = []
    for x in ints(s)[1:]:
        p = bisect.bisect_left(tails, x)
        if p == len(tails):
            tails.append(x)
        else:
            tails[p] = x
    return str(len(tails))


@problem(
    "knapsack",
    "0/1 Knapsack",
    "There are n items, item i has weight w_i and value v_i. Choose items of total weight at most W with the "
    "largest total value; print that value.\n\nInput: n and W (1 <= n <= 100, 1 <= W <= 10^5), then n lines "
    "w_i v_i (1 <= w_i <= 10^5, 1 <= v_i <= 10^9).\nOutput: the largest total value.",
    ["3 8\n3 30\n4 50\n5 60\n", "1 5\n10 100\n"],
    lambda r: (
        lambda n: f"{n} {r.randint(1, 60)}\n" + "".join(f"{r.randint(1, 30)} {r.randint(1, 100)}\n" for _ in range(n))
    )(r.randint(1, 15)),
    R("""
    let n = rd!(usize);
    let cap = rd!(usize);
    let mut dp = vec![0i64; cap + 1];
    for _ in 0..n {
        let w = rd!(usize);
        let v = rd!(i64);
        if w > cap { continue; }
        for c in (w..=cap).rev() { dp[c] = dp[c].max(dp[c - w] + v); }
    }
    writeln!(out, "{}", dp[cap]).unwrap();
"""),
)
def _(s):
    v = ints(s)
    n, cap = v[0], v[1]
    dp = [0] * (cap + 1)
    for i in range(n):
        w, val = v[2 + 2 * i], v[3 + 2 * i]
        for c in range(cap, w - 1, -1):
            dp[c] = max(dp[c], dp[c - w] + val)
    return str(dp[cap])


_WORDS = [
    *("the", "quick", "brown", "fox", "jumps", "over", "lazy"),
    *("dog", "rust", "code", "safe", "fast", "memory", "borrow"),
]


@problem(
    "reverse_words",
    "Reverse the Words",
    "Given one line of words separated by single spaces, print the words in reverse order, separated by single "
    "spaces.\n\nInput: one line of 1 to 10^4 words, each of 1 to 20 lowercase letters.\nOutput: the words reversed.",
    ["hello world\n", "a b c d\n"],
    lambda r: " ".join(r.choice(_WORDS) for _ in range(r.randint(1, 12))) + "\n",
    R("""
    let w: Vec<&str> = it.collect();
    let r: Vec<&str> = w.into_iter().rev().collect();
    writeln!(out, "{}", r.join(" ")).unwrap();
"""),
)
def _(s):
    return " ".join(s.split()[::-1])


@problem(
    "inversions",
    "Counting Inversions",
    "Count the pairs (i, j) with i < j and a_i > a_j.\n\nInput: n (1 <= n <= 2*10^5), then n integers "
    "(|a_i| <= 10^9).\nOutput: the number of inversions.",
    ["5\n2 4 1 3 5\n", "3\n3 2 1\n"],
    lambda r: (lambda n: arr_input(n, [r.randint(-100, 100) for _ in range(n)]))(r.choice([1, 5, 50, 3000])),
    R("""
    fn sort(a: &mut Vec<i64>) -> u64 {
        let n = a.len();
        if n < 2 { return 0; }
        let mut right = a.split_off(n / 2);
        let mut c = sort(a) + sort(&mut right);
        let mut m = Vec::with_capacity(n);
        let (mut i, mut j) = (0, 0);
        while i < a.len() || j < right.len() {
            if j == right.len() || (i < a.len() && a[i] <= right[j]) { m.push(a[i]); i += 1; }
            else { c += (a.len() - i) as u64; m.push(right[j]); j += 1; }
        }
        *a = m;
        c
    }
    let n = rd!(usize);
    let mut a: Vec<i64> = (0..n).map(|_| rd!(i64)).collect();
    writeln!(out, "{}", sort(&mut a)).unwrap();
"""),
)
def _(s):
    a = ints(s)[1:]

    def go(a):
        if len(a) < 2:
            return a, 0
        left, c1 = go(a[: len(a) // 2])
        right, c2 = go(a[len(a) // 2 :])
        m, i, j, c = [], 0, 0, c1 + c2
        while i < len(left) or j < len(right):
            if j == len(right) or (i < len(left) and left[i] <= right[j]):
                m.append(left[i])
                i += 1
            else:
                c += len(left) - i
                m.append(right[j])
                j += 1
        return m, c

    return str(go(a)[1])


@problem(
    "fib_mod",
    "Huge Fibonacci",
    "F(0) = 0, F(1) = 1, F(n) = F(n-1) + F(n-2). Print F(n) modulo 1000000007.\n\nInput: n (0 <= n <= 10^18).",
    ["10\n", "1000\n"],
    lambda r: f"{r.choice([0, 1, 2, r.randint(3, 100), r.randint(10**17, 10**18)])}\n",
    R("""
    const M: u64 = 1_000_000_007;
    fn mul(a: [[u64; 2]; 2], b: [[u64; 2]; 2]) -> [[u64; 2]; 2] {
        let mut c = [[0u64; 2]; 2];
        for i in 0..2 { for j in 0..2 { for k in 0..2 { c[i][j] = (c[i][j] + a[i][k] * b[k][j]) % M; } } }
        c
    }
    let mut n = rd!(u64);
    let mut r = [[1u64, 0], [0, 1]];
    let mut b = [[1u64, 1], [1, 0]];
    while n > 0 { if n & 1 == 1 { r = mul(r, b); } b = mul(b, b); n >>= 1; }
    writeln!(out, "{}", r[0][1]).unwrap();
"""),
)
def _(s):
    n, m = int(s), 10**9 + 7

    def f(n):
        if n == 0:
            return 0, 1
        a, b = f(n // 2)
        c = a * ((2 * b - a) % m) % m
        d = (a * a + b * b) % m
        return (d, (c + d) % m) if n % 2 else (c, d)

    return str(f(n)[0])


@problem(
    "digit_sum",
    "Digit Sum of a Big Number",
    "Given a positive integer with up to 10^5 digits (no leading zeros), print the sum of its digits.",
    ["12345\n", "9\n"],
    lambda r: str(r.randint(1, 9)) + "".join(r.choice("0123456789") for _ in range(r.randint(0, 200))) + "\n",
    R("""
    let w = rd!(String);
    let t: u64 = w.bytes().map(|c| (c - b'0') as u64).sum();
    writeln!(out, "{}", t).unwrap();
"""),
)
def _(s):
    return str(sum(map(int, s.strip())))


@problem(
    "pair_sum_count",
    "Pairs with a Given Sum",
    "Count the pairs of positions i < j with a_i + a_j = t.\n\nInput: n and t (1 <= n <= 2*10^5, |t| <= 10^9), "
    "then n integers (|a_i| <= 10^9).\nOutput: the number of pairs.",
    ["5 6\n1 5 3 3 2\n", "4 2\n1 1 1 1\n"],
    lambda r: (lambda n: f"{n} {r.randint(-5, 15)}\n{' '.join(str(r.randint(-5, 10)) for _ in range(n))}\n")(
        r.randint(1, 60)
    ),
    R("""
    let n = rd!(usize);
    let t = rd!(i64);
    let mut seen: std::collections::HashMap<i64, u64> = std::collections::HashMap::new();
    let mut c = 0u64;
    for _ in 0..n {
        let x = rd!(i64);
        c += seen.get(&(t - x)).copied().unwrap_or(0);
        *seen.entry(x).or_insert(0) += 1;
    }
    writeln!(out, "{}", c).unwrap();
"""),
)
def _(s):
    v = ints(s)
    t, a = v[1], v[2:]
    seen, c = Counter(), 0
    for x in a:
        c += seen[t - x]
        seen[x] += 1
    return str(c)


@problem(
    "min_max",
    "Minimum and Maximum",
    "Print the smallest and the largest of n integers, separated by a space.\n\nInput: n (1 <= n <= 10^5), then "
    "n integers (|a_i| <= 10^18).",
    ["5\n3 -1 4 1 5\n", "1\n42\n"],
    g_arr(-(10**18), 10**18, 100),
    R("""
    let n = rd!(usize);
    let a: Vec<i64> = (0..n).map(|_| rd!(i64)).collect();
    writeln!(out, "{} {}", a.iter().min().unwrap(), a.iter().max().unwrap()).unwrap();
"""),
)
def _(s):
    a = ints(s)[1:]
    return f"{min(a)} {max(a)}"


@problem(
    "coin_ways",
    "Coin Change: Number of Ways",
    "With an unlimited supply of coins of n distinct values, in how many ways can the amount x be paid? The order "
    "of coins does not matter. Print the count modulo 1000000007.\n\nInput: n and x (1 <= n <= 100, 1 <= x <= "
    "10^6), then the n coin values (1 <= c_i <= 10^6).",
    ["3 5\n1 2 5\n", "1 3\n2\n"],
    lambda r: (lambda n: f"{n} {r.randint(1, 300)}\n{' '.join(map(str, r.sample(range(1, 40), n)))}\n")(
        r.randint(1, 6)
    ),
    R("""
    const M: u64 = 1_000_000_007;
    let n = rd!(usize);
    let x = rd!(usize);
    let mut dp = vec![0u64; x + 1];
    dp[0] = 1;
    for _ in 0..n {
        let c = rd!(usize);
        for v in c..=x { dp[v] = (dp[v] + dp[v - c]) % M; }
    }
    writeln!(out, "{}", dp[x]).unwrap();
"""),
)
def _(s):
    v = ints(s)
    x, cs = v[1], v[2:]
    dp = [1] + [0] * x
    for c in cs:
        for a in range(c, x + 1):
            dp[a] = (dp[a] + dp[a - c]) % (10**9 + 7)
    return str(dp[x])


@problem(
    "min_coins",
    "Coin Change: Fewest Coins",
    "With an unlimited supply of coins of n values, print the fewest coins that pay exactly x, or -1 if x cannot "
    "be paid.\n\nInput: n and x (1 <= n <= 100, 0 <= x <= 10^6), then the n coin values (1 <= c_i <= 10^6).",
    ["3 11\n1 5 7\n", "2 3\n2 4\n"],
    lambda r: (lambda n: f"{n} {r.randint(0, 300)}\n{' '.join(str(r.randint(2, 40)) for _ in range(n))}\n")(
        r.randint(1, 5)
    ),
    R("""
    let n = rd!(usize);
    let x = rd!(usize);
    let c: Vec<usize> = (0..n).map(|_| rd!(usize)).collect();
    let inf = u64::MAX;
    let mut dp = vec![inf; x + 1];
    dp[0] = 0;
    for v in 1..=x {
        for &ci in &c { if ci <= v && dp[v - ci] != inf { dp[v] = dp[v].min(dp[v - ci] + 1); } }
    }
    if dp[x] == inf { writeln!(out, "-1").unwrap(); } else { writeln!(out, "{}", dp[x]).unwrap(); }
"""),
)
def _(s):
    v = ints(s)
    x, cs = v[1], v[2:]
    inf = float("inf")
    dp = [0] + [inf] * x
    for a in range(1, x + 1):
        for c in cs:
            if c <= a and dp[a - c] + 1 < dp[a]:
                dp[a] = dp[a - c] + 1
    return str(dp[x] if dp[x] != inf else -1)


@problem(
    "edit_distance",
    "Edit Distance",
    "Print the least number of single-character insertions, deletions and substitutions that turn string a into "
    "string b.\n\nInput: two lines, a and b (lowercase letters, 1 to 5000 characters each).",
    ["kitten\nsitting\n", "abc\nabc\n"],
    lambda r: f"{_word(r, 1, 12)}\n{_word(r, 1, 12)}\n",
    R("""
    let a = rd!(String).into_bytes();
    let b = rd!(String).into_bytes();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let sub = prev[j - 1] + if a[i - 1] == b[j - 1] { 0 } else { 1 };
            cur[j] = sub.min(prev[j] + 1).min(cur[j - 1] + 1);
        }
        prev = cur;
    }
    writeln!(out, "{}", prev[b.len()]).unwrap();
"""),
)
def _(s):
    a, b = s.split()
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] * (len(b) + 1)
        for j in range(1, len(b) + 1):
            cur[j] = min(prev[j - 1] + (a[i - 1] != b[j - 1]), prev[j] + 1, cur[j - 1] + 1)
        prev = cur
    return str(prev[-1])


@problem(
    "lcs",
    "Longest Common Subsequence",
    "Print the length of the longest common subsequence of strings a and b.\n\nInput: two lines, a and b "
    "(lowercase letters, 1 to 5000 characters each).",
    ["abcde\nace\n", "abc\ndef\n"],
    lambda r: f"{_word(r, 1, 15)}\n{_word(r, 1, 15)}\n",
    R("""
    let a = rd!(String).into_bytes();
    let b = rd!(String).into_bytes();
    let mut dp = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            dp[i][j] = if a[i - 1] == b[j - 1] { dp[i - 1][j - 1] + 1 } else { dp[i - 1][j].max(dp[i][j - 1]) };
        }
    }
    writeln!(out, "{}", dp[a.len()][b.len()]).unwrap();
"""),
)
def _(s):
    a, b = s.split()
    dp = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            dp[i][j] = dp[i - 1][j - 1] + 1 if a[i - 1] == b[j - 1] else max(dp[i - 1][j], dp[i][j - 1])
    return str(dp[-1][-1])


def _anagram_gen(r):
    w = _word(r, 1, 10, "abcd")
    v = "".join(r.sample(w, len(w)))
    if r.random() < 0.5:
        v = v[:-1] + r.choice("abcd")
    return f"{w}\n{v}\n"


@problem(
    "anagram",
    "Anagrams",
    "Print YES if the two given words use exactly the same letters the same number of times, else NO.\n\nInput: "
    "two lines with one lowercase word each (1 to 10^5 letters).",
    ["listen\nsilent\n", "aab\nabb\n"],
    _anagram_gen,
    R("""
    let mut a = rd!(String).into_bytes();
    let mut b = rd!(String).into_bytes();
    a.sort();
    b.sort();
    writeln!(out, "{}", if a == b { "YES" } else { "NO" }).unwrap();
"""),
)
def _(s):
    a, b = s.split()
    return "YES" if sorted(a) == sorted(b) else "NO"


@problem(
    "vowels",
    "Counting Vowels",
    "Print how many vowels (a, e, i, o, u, in either case) the given line of text contains.\n\nInput: one line "
    "of at most 10^5 characters (letters, digits, spaces and punctuation).",
    ["Hello, World!\n", "rhythm\n"],
    lambda r: " ".join(r.choice([*_WORDS, "AEIOU", "Xy", "42!", "Queue"]) for _ in range(r.randint(1, 10))) + "\n",
    R("""
    let c = s.lines().next().unwrap_or("").chars().filter(|ch| "aeiouAEIOU".contains(*ch)).count();
    writeln!(out, "{}", c).unwrap();
"""),
)
def _(s):
    return str(sum(ch in "aeiouAEIOU" for ch in s.splitlines()[0]))


def _mat(r, n, m, lo=-9, hi=9):
    return "".join(" ".join(str(r.randint(lo, hi)) for _ in range(m)) + "\n" for _ in range(n))


@problem(
    "matmul",
    "Matrix Product",
    "Print the product A*B of two n x n integer matrices.\n\nInput: n (1 <= n <= 100), then n lines of A, then "
    "n lines of B (|entries| <= 1000).\nOutput: n lines of n integers.",
    ["2\n1 2\n3 4\n5 6\n7 8\n", "1\n3\n-4\n"],
    lambda r: (lambda n: f"{n}\n" + _mat(r, n, n) + _mat(r, n, n))(r.randint(1, 6)),
    R("""
    let n = rd!(usize);
    let a: Vec<Vec<i64>> = (0..n).map(|_| (0..n).map(|_| rd!(i64)).collect()).collect();
    let b: Vec<Vec<i64>> = (0..n).map(|_| (0..n).map(|_| rd!(i64)).collect()).collect();
    for i in 0..n {
        let row: Vec<String> = (0..n).map(|j| (0..n).map(|k| a[i][k] * b[k][j]).sum::<i64>().to_string()).collect();
        writeln!(out, "{}", row.join(" ")).unwrap();
    }
"""),
)
def _(s):
    v = ints(s)
    n = v[0]
    a = [v[1 + i * n : 1 + (i + 1) * n] for i in range(n)]
    b = [v[1 + n * n + i * n : 1 + n * n + (i + 1) * n] for i in range(n)]
    return "\n".join(" ".join(str(sum(a[i][k] * b[k][j] for k in range(n))) for j in range(n)) for i in range(n))


@problem(
    "transpose",
    "Transpose a Matrix",
    "Print the transpose of an r x c integer matrix.\n\nInput: r and c (1 <= r, c <= 500), then r lines of c "
    "integers.\nOutput: c lines of r integers.",
    ["2 3\n1 2 3\n4 5 6\n", "1 1\n7\n"],
    lambda r: (lambda a, b: f"{a} {b}\n" + _mat(r, a, b))(r.randint(1, 6), r.randint(1, 6)),
    R("""
    let r = rd!(usize);
    let c = rd!(usize);
    let a: Vec<Vec<i64>> = (0..r).map(|_| (0..c).map(|_| rd!(i64)).collect()).collect();
    for j in 0..c {
        let row: Vec<String> = (0..r).map(|i| a[i][j].to_string()).collect();
        writeln!(out, "{}", row.join(" ")).unwrap();
    }
"""),
)
def _(s):
    v = ints(s)
    r, c = v[0], v[1]
    a = [v[2 + i * c : 2 + (i + 1) * c] for i in range(r)]
    return "\n".join(" ".join(str(a[i][j]) for i in range(r)) for j in range(c))


def _rsq_gen(r):
    n, q = r.randint(1, 20), r.randint(1, 10)
    qs = []
    for _ in range(q):
        a, b = sorted((r.randint(1, n), r.randint(1, n)))
        qs.append(f"{a} {b}")
    return f"{n} {q}\n{' '.join(str(r.randint(-100, 100)) for _ in range(n))}\n" + "\n".join(qs) + "\n"


@problem(
    "range_sums",
    "Range Sum Queries",
    "Given an array of n integers and q queries l r (1-based, l <= r), print the sum of a_l..a_r for each query, "
    "one per line.\n\nInput: n and q (1 <= n, q <= 2*10^5), then the n integers (|a_i| <= 10^9), then q lines "
    "l r.",
    ["5 3\n1 2 3 4 5\n1 5\n2 3\n4 4\n", "1 1\n-7\n1 1\n"],
    _rsq_gen,
    R("""
    let n = rd!(usize);
    let q = rd!(usize);
    let mut p = vec![0i64; n + 1];
    for i in 0..n { p[i + 1] = p[i] + rd!(i64); }
    for _ in 0..q {
        let l = rd!(usize);
        let r = rd!(usize);
        writeln!(out, "{}", p[r] - p[l - 1]).unwrap();
    }
"""),
)
def _(s):
    v = ints(s)
    n, q = v[0], v[1]
    a = v[2 : 2 + n]
    res = []
    for i in range(q):
        lo, hi = v[2 + n + 2 * i], v[3 + n + 2 * i]
        res.append(str(sum(a[lo - 1 : hi])))
    return "\n".join(res)


@problem(
    "distinct_count",
    "Distinct Values",
    "Print how many distinct values there are among n integers.\n\nInput: n (1 <= n <= 2*10^5), then n "
    "integers (|a_i| <= 10^9).",
    ["5\n2 3 2 2 3\n", "3\n1 2 3\n"],
    g_arr(-20, 20, 100),
    R("""
    let n = rd!(usize);
    let mut a: Vec<i64> = (0..n).map(|_| rd!(i64)).collect();
    a.sort();
    a.dedup();
    writeln!(out, "{}", a.len()).unwrap();
"""),
)
def _(s):
    return str(len(set(ints(s)[1:])))


@problem(
    "most_frequent",
    "Most Frequent Value",
    "Print the value that occurs most often among n integers; if several values tie, print the smallest of "
    "them.\n\nInput: n (1 <= n <= 2*10^5), then n integers (|a_i| <= 10^9).",
    ["6\n3 1 3 2 1 4\n", "3\n7 8 7\n"],
    g_arr(-6, 6, 40),
    R("""
    let n = rd!(usize);
    let mut m: std::collections::BTreeMap<i64, usize> = std::collections::BTreeMap::new();
    for _ in 0..n { *m.entry(rd!(i64)).or_insert(0) += 1; }
    let mut best = (0usize, 0i64);
    for (&k, &c) in m.iter() { if c > best.0 { best = (c, k); } }
    writeln!(out, "{}", best.1).unwrap();
"""),
)
def _(s):
    c = Counter(ints(s)[1:])
    top = max(c.values())
    return str(min(k for k, v in c.items() if v == top))


@problem(
    "second_largest",
    "Second Largest Value",
    "Print the second largest distinct value among n integers, or -1000000001 if all values are equal.\n\nInput: "
    "n (1 <= n <= 2*10^5), then n integers (|a_i| <= 10^9).",
    ["5\n4 1 4 3 2\n", "2\n5 5\n"],
    g_arr(-5, 5, 8),
    R("""
    let n = rd!(usize);
    let mut a: Vec<i64> = (0..n).map(|_| rd!(i64)).collect();
    a.sort();
    a.dedup();
    if a.len() < 2 { writeln!(out, "-1000000001").unwrap(); } else { writeln!(out, "{}", a[a.len() - 2]).unwrap(); }
"""),
)
def _(s):
    a = sorted(set(ints(s)[1:]))
    return str(a[-2]) if len(a) > 1 else "-1000000001"


@problem(
    "sort_numbers",
    "Sort the Numbers",
    "Print the n given integers in non-decreasing order, separated by spaces.\n\nInput: n (1 <= n <= 2*10^5), "
    "then n integers (|a_i| <= 10^9).",
    ["5\n5 3 1 4 2\n", "3\n-1 -1 0\n"],
    g_arr(-1000, 1000, 50),
    R("""
    let n = rd!(usize);
    let mut a: Vec<i64> = (0..n).map(|_| rd!(i64)).collect();
    a.sort();
    let v: Vec<String> = a.iter().map(|x| x.to_string()).collect();
    writeln!(out, "{}", v.join(" ")).unwrap();
"""),
)
def _(s):
    return " ".join(map(str, sorted(ints(s)[1:])))


@problem(
    "kth_smallest",
    "k-th Smallest",
    "Print the k-th smallest of n integers (counting duplicates; k = 1 is the minimum).\n\nInput: n and k "
    "(1 <= k <= n <= 2*10^5), then n integers (|a_i| <= 10^9).",
    ["5 2\n7 3 9 1 5\n", "4 4\n2 2 2 1\n"],
    lambda r: (lambda n: f"{n} {r.randint(1, n)}\n{' '.join(str(r.randint(-50, 50)) for _ in range(n))}\n")(
        r.randint(1, 30)
    ),
    R("""
    let n = rd!(usize);
    let k = rd!(usize);
    let mut a: Vec<i64> = (0..n).map(|_| rd!(i64)).collect();
    a.sort();
    writeln!(out, "{}", a[k - 1]).unwrap();
"""),
)
def _(s):
    v = ints(s)
    return str(sorted(v[2:])[v[1] - 1])


@problem(
    "power_mod",
    "Modular Power",
    "Print a^b mod m.\n\nInput: three integers a, b, m (0 <= a <= 10^18, 0 <= b <= 10^18, 1 <= m <= 10^9).",
    ["2 10 1000\n", "3 0 7\n"],
    lambda r: f"{r.randint(0, 10**18)} {r.randint(0, 10**18)} {r.randint(1, 10**9)}\n",
    R("""
    let a = rd!(u64);
    let mut b = rd!(u64);
    let m = rd!(u64);
    let mut base = a % m;
    let mut r = 1 % m;
    while b > 0 { if b & 1 == 1 { r = r * base % m; } base = base * base % m; b >>= 1; }
    writeln!(out, "{}", r).unwrap();
"""),
)
def _(s):
    a, b, m = ints(s)
    return str(pow(a, b, m))


@problem(
    "factorize",
    "Prime Factorization",
    "Print the prime factors of n in non-decreasing order, with multiplicity, separated by spaces.\n\nInput: n "
    "(2 <= n <= 10^12).",
    ["60\n", "97\n"],
    lambda r: f"{r.choice([r.randint(2, 10**6), r.randint(2, 10**12), 2**39, 999983 * 999979])}\n",
    R("""
    let mut n = rd!(u64);
    let mut f: Vec<String> = Vec::new();
    let mut d = 2u64;
    while d * d <= n {
        while n % d == 0 { f.push(d.to_string()); n /= d; }
        d += 1;
    }
    if n > 1 { f.push(n.to_string()); }
    writeln!(out, "{}", f.join(" ")).unwrap();
"""),
)
def _(s):
    n, f, d = int(s), [], 2
    while d * d <= n:
        while n % d == 0:
            f.append(d)
            n //= d
        d += 1
    if n > 1:
        f.append(n)
    return " ".join(map(str, f))


@problem(
    "divisor_count",
    "Number of Divisors",
    "Print the number of positive divisors of n.\n\nInput: n (1 <= n <= 10^12).",
    ["12\n", "1\n"],
    lambda r: f"{r.choice([r.randint(1, 1000), r.randint(1, 10**12), 735134400])}\n",
    R("""
    let mut n = rd!(u64);
    let mut c = 1u64;
    let mut d = 2u64;
    while d * d <= n {
        let mut e = 0;
        while n % d == 0 { n /= d; e += 1; }
        c *= e + 1;
        d += 1;
    }
    if n > 1 { c *= 2; }
    writeln!(out, "{}", c).unwrap();
"""),
)
def _(s):
    n, c, d = int(s), 1, 2
    while d * d <= n:
        e = 0
        while n % d == 0:
            n //= d
            e += 1
        c *= e + 1
        d += 1
    return str(c * 2 if n > 1 else c)


@problem(
    "dijkstra",
    "Shortest Route",
    "A country has n cities and m one-way roads; road i goes from a_i to b_i and has length c_i. Print the length "
    "of the shortest route from city 1 to city n, or -1 if there is none.\n\nInput: n and m (2 <= n <= 10^5, "
    "1 <= m <= 2*10^5), then m lines a_i b_i c_i (1 <= c_i <= 10^9).",
    ["3 3\n1 2 4\n2 3 1\n1 3 7\n", "3 1\n2 3 5\n"],
    lambda r: (
        lambda n, m: (
            f"{n} {m}\n" + "".join(f"{r.randint(1, n)} {r.randint(1, n)} {r.randint(1, 20)}\n" for _ in range(m))
        )
    )(r.randint(2, 8), r.randint(1, 15)),
    R("""
    let n = rd!(usize);
    let m = rd!(usize);
    let mut adj: Vec<Vec<(usize, u64)>> = vec![Vec::new(); n + 1];
    for _ in 0..m { let a = rd!(usize); let b = rd!(usize); let c = rd!(u64); adj[a].push((b, c)); }
    let mut dist = vec![u64::MAX; n + 1];
    let mut h = std::collections::BinaryHeap::new();
    dist[1] = 0;
    h.push(std::cmp::Reverse((0u64, 1usize)));
    while let Some(std::cmp::Reverse((d, u))) = h.pop() {
        if d > dist[u] { continue; }
        for &(v, c) in &adj[u] {
            if d + c < dist[v] { dist[v] = d + c; h.push(std::cmp::Reverse((dist[v], v))); }
        }
    }
    if dist[n] == u64::MAX { writeln!(out, "-1").unwrap(); } else { writeln!(out, "{}", dist[n]).unwrap(); }
"""),
)
def _(s):
    v = ints(s)
    n, m = v[0], v[1]
    adj = [[] for _ in range(n + 1)]
    for i in range(m):
        a, b, c = v[2 + 3 * i : 5 + 3 * i]
        adj[a].append((b, c))
    dist = {1: 0}
    h = [(0, 1)]
    while h:
        d, u = heapq.heappop(h)
        if d > dist.get(u, float("inf")):
            continue
        for b, c in adj[u]:
            if d + c < dist.get(b, float("inf")):
                dist[b] = d + c
                heapq.heappush(h, (d + c, b))
    return str(dist.get(n, -1))

"""Problems, part B."""

from __future__ import annotations

import heapq

from problems_a import R, _word, arr_input, g_arr, ints, problem


@problem(
    "is_prime",
    "Prime Test",
    "For each of q numbers print YES if it is prime, else NO, one answer per line.\n\nInput: q (1 <= q <= 100), "
    "then q integers x (1 <= x <= 10^12).",
    ["3\n2\n15\n97\n", "1\n1\n"],
    lambda r: (
        lambda q: (
            f"{q}\n"
            + "".join(f"{r.choice([r.randint(1, 100), r.randint(1, 10**12), 999999000001])}\n" for _ in range(q))
        )
    )(r.randint(1, 6)),
    R("""
    let q = rd!(usize);
    for _ in 0..q {
        let x = rd!(u64);
        let mut p = x >= 2;
        let mut d = 2u64;
        while d * d <= x { if x % d == 0 { p = false; break; } d += 1; }
        writeln!(out, "{}", if p { "YES" } else { "NO" }).unwrap();
    }
"""),
)
def _(s):
    def p(x):
        if x < 2:
            return False
        d = 2
        while d * d <= x:
            if x % d == 0:
                return False
            d += 1
        return True

    return "\n".join("YES" if p(x) else "NO" for x in ints(s)[1:])


@problem(
    "to_binary",
    "Binary Representation",
    "Print the binary representation of n without leading zeros (0 is printed as 0).\n\nInput: n (0 <= n <= 10^18).",
    ["10\n", "0\n"],
    lambda r: f"{r.choice([1, r.randint(0, 1000), r.randint(0, 10**18)])}\n",
    R("""
    let n = rd!(u64);
    writeln!(out, "{:b}", n).unwrap();
"""),
)
def _(s):
    return bin(int(s))[2:]


@problem(
    "base_convert",
    "Change of Base",
    "Write n in base b, using the digits 0-9 then the capital letters A-Z.\n\nInput: n and b (0 <= n <= 10^18, "
    "2 <= b <= 36).",
    ["255 16\n", "0 7\n"],
    lambda r: f"{r.randint(0, 10**18)} {r.randint(2, 36)}\n",
    R("""
    let mut n = rd!(u64);
    let b = rd!(u64);
    let digits = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut v: Vec<u8> = Vec::new();
    if n == 0 { v.push(b'0'); }
    while n > 0 { v.push(digits[(n % b) as usize]); n /= b; }
    v.reverse();
    writeln!(out, "{}", String::from_utf8(v).unwrap()).unwrap();
"""),
)
def _(s):
    n, b = ints(s)
    d = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    out = ""
    while n:
        out = d[n % b] + out
        n //= b
    return out or "0"


@problem(
    "roman",
    "Roman Numerals",
    "Print n in Roman numerals (I, V, X, L, C, D, M with subtractive pairs such as IV and CM).\n\nInput: n "
    "(1 <= n <= 3999).",
    ["1994\n", "4\n"],
    lambda r: f"{r.randint(1, 3999)}\n",
    R("""
    let mut n = rd!(u32);
    let t = [(1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"), (50, "L"), (40, "XL"),
             (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")];
    let mut r = String::new();
    for &(v, sym) in t.iter() { while n >= v { r.push_str(sym); n -= v; } }
    writeln!(out, "{}", r).unwrap();
"""),
)
def _(s):
    n, r = int(s), ""
    for v, sym in [
        (1000, "M"),
        (900, "CM"),
        (500, "D"),
        (400, "CD"),
        (100, "C"),
        (90, "XC"),
        (50, "L"),
        (40, "XL"),
        (10, "X"),
        (9, "IX"),
        (5, "V"),
        (4, "IV"),
        (1, "I"),
    ]:
        while n >= v:
            r += sym
            n -= v
    return r


@problem(
    "caesar",
    "Caesar Cipher",
    "Shift every letter of the text k places forward in the alphabet, wrapping from z to a (upper case stays "
    "upper case); other characters stay as they are.\n\nInput: k (0 <= k <= 1000) on the first line, the text "
    "(one line of at most 10^5 characters) on the second.",
    ["3\nHello, World!\n", "26\nabc xyz\n"],
    lambda r: (
        f"{r.randint(0, 1000)}\n"
        + " ".join(r.choice(["Zebra", "quiz", "X-ray!", "a1b2"]) for _ in range(r.randint(1, 6)))
        + "\n"
    ),
    R("""
    let mut lines = s.lines();
    let k = (lines.next().unwrap().trim().parse::<u32>().unwrap() % 26) as u8;
    let text = lines.next().unwrap_or("");
    let r: String = text.bytes().map(|c| match c {
        b'a'..=b'z' => ((c - b'a' + k) % 26 + b'a') as char,
        b'A'..=b'Z' => ((c - b'A' + k) % 26 + b'A') as char,
        _ => c as char,
    }).collect();
    writeln!(out, "{}", r).unwrap();
"""),
)
def _(s):
    lines = s.split("\n")
    k = int(lines[0]) % 26
    out = []
    for c in lines[1]:
        if c.islower():
            c = chr((ord(c) - 97 + k) % 26 + 97)
        elif c.isupper():
            c = chr((ord(c) - 65 + k) % 26 + 65)
        out.append(c)
    return "".join(out)


@problem(
    "rle",
    "Run-Length Encoding",
    "Encode the string by replacing every maximal run of one letter by the letter followed by the run's length, "
    "e.g. aaabcc becomes a3b1c2.\n\nInput: one string of lowercase letters (1 to 10^5).",
    ["aaabcc\n", "z\n"],
    lambda r: "".join(r.choice("ab") * r.randint(1, 12) for _ in range(r.randint(1, 8))) + "\n",
    R("""
    let w = rd!(String).into_bytes();
    let mut r = String::new();
    let mut i = 0;
    while i < w.len() {
        let mut j = i;
        while j < w.len() && w[j] == w[i] { j += 1; }
        r.push(w[i] as char);
        r.push_str(&(j - i).to_string());
        i = j;
    }
    writeln!(out, "{}", r).unwrap();
"""),
)
def _(s):
    import itertools

    return "".join(f"{k}{len(list(g))}" for k, g in itertools.groupby(s.strip()))


@problem(
    "longest_palindrome",
    "Longest Palindromic Substring",
    "Print the length of the longest contiguous substring that is a palindrome.\n\nInput: one string of "
    "lowercase letters (1 to 5000).",
    ["babad\n", "abcd\n"],
    lambda r: _word(r, 1, 40, "ab") + "\n",
    R("""
    let w = rd!(String).into_bytes();
    let n = w.len() as i64;
    let mut best = 1;
    for c in 0..n {
        for &(mut l, mut r) in [(c, c), (c, c + 1)].iter() {
            while l >= 0 && r < n && w[l as usize] == w[r as usize] { l -= 1; r += 1; }
            best = best.max(r - l - 1);
        }
    }
    writeln!(out, "{}", best).unwrap();
"""),
)
def _(s):
    w = s.strip()
    return str(max(j - i for i in range(len(w)) for j in range(i + 1, len(w) + 1) if w[i:j] == w[i:j][::-1]))


def _edges(r, n, m):
    return "".join(f"{r.randint(1, n)} {r.randint(1, n)}\n" for _ in range(m))


@problem(
    "components",
    "Connected Components",
    "An undirected graph has n vertices and m edges. Print its number of connected components.\n\nInput: n and "
    "m (1 <= n <= 10^5, 0 <= m <= 2*10^5), then m lines u v (1 <= u, v <= n).",
    ["5 3\n1 2\n2 3\n4 5\n", "3 0\n"],
    lambda r: (lambda n, m: f"{n} {m}\n" + _edges(r, n, m))(r.randint(1, 12), r.randint(0, 8)),
    R("""
    fn find(p: &mut Vec<usize>, x: usize) -> usize { let mut x = x; while p[x] != x { p[x] = p[p[x]]; x = p[x]; } x }
    let n = rd!(usize);
    let m = rd!(usize);
    let mut p: Vec<usize> = (0..=n).collect();
    let mut c = n;
    for _ in 0..m {
        let a = find(&mut p, rd!(usize));
        let b = find(&mut p, rd!(usize));
        if a != b { p[a] = b; c -= 1; }
    }
    writeln!(out, "{}", c).unwrap();
"""),
)
def _(s):
    v = ints(s)
    n, m = v[0], v[1]
    p = list(range(n + 1))

    def f(x):
        while p[x] != x:
            x = p[x]
        return x

    c = n
    for i in range(m):
        a, b = f(v[2 + 2 * i]), f(v[3 + 2 * i])
        if a != b:
            p[a] = b
            c -= 1
    return str(c)


def _dag(r):
    n = r.randint(1, 9)
    perm = list(range(1, n + 1))
    r.shuffle(perm)
    es = set()
    for _ in range(r.randint(0, 12)):
        i, j = sorted(r.sample(range(n), 2)) if n > 1 else (0, 0)
        if i != j:
            es.add((perm[i], perm[j]))
    return f"{n} {len(es)}\n" + "".join(f"{a} {b}\n" for a, b in sorted(es))


@problem(
    "topo_sort",
    "Task Order",
    "There are n tasks and m requirements 'a must be done before b'; the requirements contain no cycle. Print "
    "the order of the tasks that satisfies all requirements and is lexicographically smallest.\n\nInput: n and m "
    "(1 <= n <= 10^5, 0 <= m <= 2*10^5), then m lines a b.\nOutput: n task numbers separated by spaces.",
    ["4 3\n3 1\n3 2\n2 1\n", "3 0\n"],
    _dag,
    R("""
    let n = rd!(usize);
    let m = rd!(usize);
    let mut adj = vec![Vec::new(); n + 1];
    let mut indeg = vec![0usize; n + 1];
    for _ in 0..m { let a = rd!(usize); let b = rd!(usize); adj[a].push(b); indeg[b] += 1; }
    let mut h = std::collections::BinaryHeap::new();
    for v in 1..=n { if indeg[v] == 0 { h.push(std::cmp::Reverse(v)); } }
    let mut order = Vec::new();
    while let Some(std::cmp::Reverse(u)) = h.pop() {
        order.push(u.to_string());
        for &v in &adj[u] { indeg[v] -= 1; if indeg[v] == 0 { h.push(std::cmp::Reverse(v)); } }
    }
    writeln!(out, "{}", order.join(" ")).unwrap();
"""),
)
def _(s):
    v = ints(s)
    n, m = v[0], v[1]
    adj = [[] for _ in range(n + 1)]
    indeg = [0] * (n + 1)
    for i in range(m):
        a, b = v[2 + 2 * i], v[3 + 2 * i]
        adj[a].append(b)
        indeg[b] += 1
    h = [x for x in range(1, n + 1) if indeg[x] == 0]
    heapq.heapify(h)
    order = []
    while h:
        u = heapq.heappop(h)
        order.append(u)
        for b in adj[u]:
            indeg[b] -= 1
            if indeg[b] == 0:
                heapq.heappush(h, b)
    return " ".join(map(str, order))


@problem(
    "has_cycle",
    "Cycle in a Directed Graph",
    "A directed graph has n vertices and m edges. Print YES if it contains a directed cycle, else NO.\n\nInput: "
    "n and m (1 <= n <= 10^5, 0 <= m <= 2*10^5), then m lines u v (an edge from u to v; u may equal v).",
    ["3 3\n1 2\n2 3\n3 1\n", "3 2\n1 2\n2 3\n"],
    lambda r: (lambda n, m: f"{n} {m}\n" + _edges(r, n, m))(r.randint(2, 10), r.randint(0, 6)),
    R("""
    let n = rd!(usize);
    let m = rd!(usize);
    let mut adj = vec![Vec::new(); n + 1];
    let mut indeg = vec![0usize; n + 1];
    for _ in 0..m { let a = rd!(usize); let b = rd!(usize); adj[a].push(b); indeg[b] += 1; }
    let mut q: Vec<usize> = (1..=n).filter(|&v| indeg[v] == 0).collect();
    let mut seen = 0;
    while let Some(u) = q.pop() {
        seen += 1;
        for &v in &adj[u] { indeg[v] -= 1; if indeg[v] == 0 { q.push(v); } }
    }
    writeln!(out, "{}", if seen < n { "YES" } else { "NO" }).unwrap();
"""),
)
def _(s):
    v = ints(s)
    n, m = v[0], v[1]
    adj = [[] for _ in range(n + 1)]
    indeg = [0] * (n + 1)
    for i in range(m):
        a, b = v[2 + 2 * i], v[3 + 2 * i]
        adj[a].append(b)
        indeg[b] += 1
    q = [x for x in range(1, n + 1) if indeg[x] == 0]
    seen = 0
    while q:
        u = q.pop()
        seen += 1
        for b in adj[u]:
            indeg[b] -= 1
            if indeg[b] == 0:
                q.append(b)
    return "YES" if seen < n else "NO"


@problem(
    "stairs",
    "Climbing Stairs",
    "You climb a staircase of n steps taking 1 or 2 steps at a time. Print the number of different ways, "
    "modulo 1000000007.\n\nInput: n (1 <= n <= 10^6).",
    ["3\n", "5\n"],
    lambda r: f"{r.randint(1, 10**6)}\n",
    R("""
    let n = rd!(usize);
    let (mut a, mut b) = (1u64, 1u64);
    for _ in 0..n { let c = (a + b) % 1_000_000_007; a = b; b = c; }
    writeln!(out, "{}", a).unwrap();
"""),
)
def _(s):
    a, b = 1, 1
    for _ in range(int(s)):
        a, b = b, (a + b) % (10**9 + 7)
    return str(a)


def _paths_gen(r):
    h, w = r.randint(1, 8), r.randint(1, 8)
    g = [["#" if r.random() < 0.15 else "." for _ in range(w)] for _ in range(h)]
    g[0][0] = "."
    return f"{h} {w}\n" + "\n".join("".join(x) for x in g) + "\n"


@problem(
    "grid_paths",
    "Paths Through a Grid",
    "A grid of h rows and w columns has free cells '.' and blocked cells '#'. Count the paths from the top-left "
    "cell to the bottom-right cell that move only right or down through free cells, modulo 1000000007 (0 if the "
    "bottom-right cell is blocked).\n\nInput: h and w (1 <= h, w <= 1000), then h lines of w characters.",
    ["3 3\n...\n.#.\n...\n", "2 2\n.#\n#.\n"],
    _paths_gen,
    R("""
    let h = rd!(usize);
    let w = rd!(usize);
    let g: Vec<Vec<u8>> = (0..h).map(|_| rd!(String).into_bytes()).collect();
    let mut dp = vec![vec![0u64; w]; h];
    for i in 0..h {
        for j in 0..w {
            if g[i][j] == b'#' { continue; }
            if i == 0 && j == 0 { dp[i][j] = 1; continue; }
            let mut v = 0;
            if i > 0 { v += dp[i - 1][j]; }
            if j > 0 { v += dp[i][j - 1]; }
            dp[i][j] = v % 1_000_000_007;
        }
    }
    writeln!(out, "{}", dp[h - 1][w - 1]).unwrap();
"""),
)
def _(s):
    t = s.split()
    h, w = int(t[0]), int(t[1])
    g = t[2:]
    dp = [[0] * w for _ in range(h)]
    for i in range(h):
        for j in range(w):
            if g[i][j] == "#":
                continue
            dp[i][j] = 1 if i == j == 0 else ((dp[i - 1][j] if i else 0) + (dp[i][j - 1] if j else 0)) % (10**9 + 7)
    return str(dp[-1][-1])


@problem(
    "max_pair_product",
    "Largest Product of Two",
    "Print the largest product a_i * a_j over two different positions i != j.\n\nInput: n (2 <= n <= 2*10^5), "
    "then n integers (|a_i| <= 10^9).",
    ["4\n-10 -3 5 2\n", "2\n-1 4\n"],
    lambda r: (lambda n: arr_input(n, [r.randint(-(10**9), 10**9) for _ in range(n)]))(r.randint(2, 12)),
    R("""
    let n = rd!(usize);
    let mut a: Vec<i128> = (0..n).map(|_| rd!(i128)).collect();
    a.sort();
    let best = (a[0] * a[1]).max(a[n - 1] * a[n - 2]);
    writeln!(out, "{}", best).unwrap();
"""),
)
def _(s):
    a = sorted(ints(s)[1:])
    return str(max(a[0] * a[1], a[-1] * a[-2]))


@problem(
    "rain_water",
    "Trapping Rain Water",
    "Bars of width 1 have heights h_1..h_n. Print how many units of rain water are trapped between them.\n\n"
    "Input: n (1 <= n <= 2*10^5), then n integers (0 <= h_i <= 10^9).",
    ["12\n0 1 0 2 1 0 1 3 2 1 2 1\n", "3\n3 0 3\n"],
    g_arr(0, 9, 30),
    R("""
    let n = rd!(usize);
    let h: Vec<i64> = (0..n).map(|_| rd!(i64)).collect();
    let mut left = vec![0i64; n];
    let mut right = vec![0i64; n];
    let mut m = 0;
    for i in 0..n { m = m.max(h[i]); left[i] = m; }
    m = 0;
    for i in (0..n).rev() { m = m.max(h[i]); right[i] = m; }
    let t: i64 = (0..n).map(|i| left[i].min(right[i]) - h[i]).sum();
    writeln!(out, "{}", t).unwrap();
"""),
)
def _(s):
    h = ints(s)[1:]
    n = len(h)
    return str(sum(min(max(h[: i + 1]), max(h[i:])) - h[i] for i in range(n)))


@problem(
    "stock_profit",
    "Buy Low, Sell High",
    "Given the prices of a stock on n days, buy on one day and sell on a later day. Print the largest profit, "
    "or 0 if no profit is possible.\n\nInput: n (1 <= n <= 2*10^5), then n prices (1 <= p_i <= 10^9).",
    ["6\n7 1 5 3 6 4\n", "3\n5 4 3\n"],
    g_arr(1, 100, 30),
    R("""
    let n = rd!(usize);
    let mut lo = i64::MAX;
    let mut best = 0i64;
    for _ in 0..n { let p = rd!(i64); lo = lo.min(p); best = best.max(p - lo); }
    writeln!(out, "{}", best).unwrap();
"""),
)
def _(s):
    p = ints(s)[1:]
    lo, best = p[0], 0
    for x in p:
        lo = min(lo, x)
        best = max(best, x - lo)
    return str(best)


@problem(
    "window_max",
    "Sliding Window Maximum",
    "For every window of k consecutive elements, print its maximum; the answers are separated by spaces.\n\n"
    "Input: n and k (1 <= k <= n <= 2*10^5), then n integers (|a_i| <= 10^9).",
    ["8 3\n1 3 -1 -3 5 3 6 7\n", "3 1\n4 2 9\n"],
    lambda r: (lambda n: f"{n} {r.randint(1, n)}\n{' '.join(str(r.randint(-20, 20)) for _ in range(n))}\n")(
        r.randint(1, 20)
    ),
    R("""
    let n = rd!(usize);
    let k = rd!(usize);
    let a: Vec<i64> = (0..n).map(|_| rd!(i64)).collect();
    let mut dq: std::collections::VecDeque<usize> = std::collections::VecDeque::new();
    let mut res = Vec::new();
    for i in 0..n {
        while let Some(&b) = dq.back() { if a[b] <= a[i] { dq.pop_back(); } else { break; } }
        dq.push_back(i);
        if dq[0] + k <= i { dq.pop_front(); }
        if i + 1 >= k { res.push(a[dq[0]].to_string()); }
    }
    writeln!(out, "{}", res.join(" ")).unwrap();
"""),
)
def _(s):
    v = ints(s)
    n, k, a = v[0], v[1], v[2:]
    return " ".join(str(max(a[i : i + k])) for i in range(n - k + 1))


@problem(
    "min_partition",
    "Fair Split",
    "Split n weights into two groups so that the difference of the groups' totals is as small as possible; "
    "print that difference.\n\nInput: n (1 <= n <= 20), then n integers (1 <= w_i <= 10^9).",
    ["5\n3 2 7 4 1\n", "1\n10\n"],
    g_arr(1, 1000, 14),
    R("""
    let n = rd!(usize);
    let w: Vec<i64> = (0..n).map(|_| rd!(i64)).collect();
    let total: i64 = w.iter().sum();
    let mut best = i64::MAX;
    for mask in 0u32..(1u32 << n) {
        let s: i64 = (0..n).filter(|&i| mask >> i & 1 == 1).map(|i| w[i]).sum();
        best = best.min((total - 2 * s).abs());
    }
    writeln!(out, "{}", best).unwrap();
"""),
)
def _(s):
    w = ints(s)[1:]
    sums = {0}
    for x in w:
        sums |= {t + x for t in sums}
    return str(min(abs(sum(w) - 2 * t) for t in sums))


@problem(
    "leap_years",
    "Leap Years",
    "In the Gregorian calendar a year is a leap year when it is divisible by 4, except years divisible by 100 "
    "that are not divisible by 400. Print how many leap years lie between a and b inclusive.\n\nInput: a and b "
    "(1 <= a <= b <= 10^18).",
    ["2000 2020\n", "1900 1900\n"],
    lambda r: (lambda a: f"{a} {a + r.randint(0, 10 ** r.randint(1, 15))}\n")(r.randint(1, 10**17)),
    R("""
    fn upto(x: u64) -> u64 { x / 4 - x / 100 + x / 400 }
    let a = rd!(u64);
    let b = rd!(u64);
    writeln!(out, "{}", upto(b) - upto(a - 1)).unwrap();
"""),
)
def _(s):
    a, b = ints(s)

    def f(x):
        return x // 4 - x // 100 + x // 400

    return str(f(b) - f(a - 1))


@problem(
    "triangle",
    "Triangle Type",
    "Given three side lengths, print 'invalid' if they do not form a triangle of positive area, else "
    "'equilateral', 'isosceles' or 'scalene'.\n\nInput: three integers (1 <= a, b, c <= 10^18).",
    ["3 3 3\n", "1 2 3\n"],
    lambda r: " ".join(str(r.choice([2, 3, 5, 7])) for _ in range(3)) + "\n",
    R("""
    let mut v = [rd!(u128), rd!(u128), rd!(u128)];
    v.sort();
    let r = if v[0] + v[1] <= v[2] { "invalid" } else if v[0] == v[2] { "equilateral" }
        else if v[0] == v[1] || v[1] == v[2] { "isosceles" } else { "scalene" };
    writeln!(out, "{}", r).unwrap();
"""),
)
def _(s):
    a, b, c = sorted(ints(s))
    if a + b <= c:
        return "invalid"
    return "equilateral" if a == c else ("isosceles" if a == b or b == c else "scalene")


@problem(
    "letter_counts",
    "Letter Frequencies",
    "For each letter that occurs in the given word, print a line with the letter and its count, in alphabetical "
    "order.\n\nInput: one word of lowercase letters (1 to 10^5).",
    ["banana\n", "z\n"],
    lambda r: _word(r, 1, 30, "abcxyz") + "\n",
    R("""
    let w = rd!(String);
    let mut c = [0usize; 26];
    for b in w.bytes() { c[(b - b'a') as usize] += 1; }
    for i in 0..26 { if c[i] > 0 { writeln!(out, "{} {}", (b'a' + i as u8) as char, c[i]).unwrap(); } }
"""),
)
def _(s):
    from collections import Counter

    c = Counter(s.strip())
    return "\n".join(f"{k} {c[k]}" for k in sorted(c))


@problem(
    "spiral",
    "Spiral Matrix",
    "Fill an n x n matrix with 1, 2, ..., n*n in a clockwise spiral starting at the top-left corner and going "
    "right first; print it, one row per line.\n\nInput: n (1 <= n <= 100).",
    ["3\n", "1\n"],
    lambda r: f"{r.randint(1, 9)}\n",
    R("""
    let n = rd!(usize) as i64;
    let mut g = vec![vec![0i64; n as usize]; n as usize];
    let (mut i, mut j, mut di, mut dj) = (0i64, 0i64, 0i64, 1i64);
    for k in 1..=n * n {
        g[i as usize][j as usize] = k;
        let (ni, nj) = (i + di, j + dj);
        if ni < 0 || nj < 0 || ni >= n || nj >= n || g[ni as usize][nj as usize] != 0 {
            let t = di; di = dj; dj = -t;
        }
        i += di;
        j += dj;
    }
    for row in g {
        let v: Vec<String> = row.iter().map(|x| x.to_string()).collect();
        writeln!(out, "{}", v.join(" ")).unwrap();
    }
"""),
)
def _(s):
    n = int(s)
    g = [[0] * n for _ in range(n)]
    i = j = di = 0
    dj = 1
    for k in range(1, n * n + 1):
        g[i][j] = k
        ni, nj = i + di, j + dj
        if not (0 <= ni < n and 0 <= nj < n) or g[ni][nj]:
            di, dj = dj, -di
        i, j = i + di, j + dj
    return "\n".join(" ".join(map(str, r)) for r in g)


@problem(
    "pascal_row",
    "Row of Pascal's Triangle",
    "Print row n of Pascal's triangle: the binomial coefficients C(n, 0), ..., C(n, n), separated by spaces.\n\n"
    "Input: n (0 <= n <= 60).",
    ["4\n", "0\n"],
    lambda r: f"{r.randint(0, 60)}\n",
    R("""
    let n = rd!(u64);
    let mut c = 1u64;
    let mut v = vec![c.to_string()];
    for k in 1..=n { c = c * (n - k + 1) / k; v.push(c.to_string()); }
    writeln!(out, "{}", v.join(" ")).unwrap();
"""),
)
def _(s):
    import math

    n = int(s)
    return " ".join(str(math.comb(n, k)) for k in range(n + 1))


@problem(
    "josephus",
    "Josephus Circle",
    "n people stand in a circle, numbered 1..n. Starting from person 1, count k people around the circle; the "
    "k-th is removed, and counting restarts with the next person. Print the number of the last person left.\n\n"
    "Input: n and k (1 <= n, k <= 10^6).",
    ["7 3\n", "1 5\n"],
    lambda r: f"{r.randint(1, 10**5)} {r.randint(1, 50)}\n",
    R("""
    let n = rd!(u64);
    let k = rd!(u64);
    let mut r = 0u64;
    for m in 2..=n { r = (r + k) % m; }
    writeln!(out, "{}", r + 1).unwrap();
"""),
)
def _(s):
    n, k = ints(s)
    r = 0
    for m in range(2, n + 1):
        r = (r + k) % m
    return str(r + 1)


@problem(
    "majority",
    "Majority Element",
    "Print the value that occurs more than n/2 times among n integers, or -1 if there is none.\n\nInput: n "
    "(1 <= n <= 2*10^5), then n integers (0 <= a_i <= 10^9).",
    ["5\n2 1 2 3 2\n", "4\n1 2 1 2\n"],
    g_arr(0, 2, 9),
    R("""
    let n = rd!(usize);
    let a: Vec<i64> = (0..n).map(|_| rd!(i64)).collect();
    let (mut cand, mut cnt) = (0i64, 0usize);
    for &x in &a { if cnt == 0 { cand = x; cnt = 1; } else if x == cand { cnt += 1; } else { cnt -= 1; } }
    let c = a.iter().filter(|&&x| x == cand).count();
    writeln!(out, "{}", if 2 * c > n { cand } else { -1 }).unwrap();
"""),
)
def _(s):
    from collections import Counter

    a = ints(s)[1:]
    k, c = Counter(a).most_common(1)[0]
    return str(k if 2 * c > len(a) else -1)


def _intervals(r):
    n = r.randint(1, 8)
    iv = []
    for _ in range(n):
        a = r.randint(0, 30)
        iv.append(f"{a} {a + r.randint(0, 6)}")
    return f"{n}\n" + "\n".join(iv) + "\n"


@problem(
    "merge_intervals",
    "Merge Intervals",
    "Merge overlapping closed intervals [l, r] (intervals that share a point overlap). Print the merged intervals "
    "in increasing order, one 'l r' per line.\n\nInput: n (1 <= n <= 2*10^5), then n lines l r "
    "(0 <= l <= r <= 10^9).",
    ["4\n1 3\n2 6\n8 10\n10 12\n", "2\n5 5\n1 2\n"],
    _intervals,
    R("""
    let n = rd!(usize);
    let mut v: Vec<(i64, i64)> = (0..n).map(|_| (rd!(i64), rd!(i64))).collect();
    v.sort();
    let mut m: Vec<(i64, i64)> = Vec::new();
    for (l, r) in v {
        if let Some(last) = m.last_mut() { if l <= last.1 { last.1 = last.1.max(r); continue; } }
        m.push((l, r));
    }
    for (l, r) in m { writeln!(out, "{} {}", l, r).unwrap(); }
"""),
)
def _(s):
    v = ints(s)
    iv = sorted((v[1 + 2 * i], v[2 + 2 * i]) for i in range(v[0]))
    m = []
    for lo, hi in iv:
        if m and lo <= m[-1][1]:
            m[-1][1] = max(m[-1][1], hi)
        else:
            m.append([lo, hi])
    return "\n".join(f"{a} {b}" for a, b in m)


@problem(
    "collatz",
    "Collatz Steps",
    "Starting from n, repeatedly replace n by n/2 if it is even, else by 3n+1. Print the number of steps until "
    "n becomes 1.\n\nInput: n (1 <= n <= 10^9).",
    ["6\n", "1\n"],
    lambda r: f"{r.randint(1, 10**9)}\n",
    R("""
    let mut n = rd!(u64);
    let mut c = 0;
    while n != 1 { n = if n % 2 == 0 { n / 2 } else { 3 * n + 1 }; c += 1; }
    writeln!(out, "{}", c).unwrap();
"""),
)
def _(s):
    n, c = int(s), 0
    while n != 1:
        n = n // 2 if n % 2 == 0 else 3 * n + 1
        c += 1
    return str(c)


@problem(
    "word_count",
    "Counting Words",
    "Print the number of words in the text; words are maximal runs of non-whitespace characters.\n\nInput: up "
    "to 1000 lines of text.",
    ["hello world\n  this is   rust\n", "one\n"],
    lambda r: (
        "\n".join(
            " ".join(r.choice(["a", "bb", "  c", "d!"]) for _ in range(r.randint(0, 5))) for _ in range(r.randint(1, 4))
        )
        + "\n"
    ),
    R("""
    writeln!(out, "{}", it.count()).unwrap();
"""),
)
def _(s):
    return str(len(s.split()))

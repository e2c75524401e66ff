using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;

namespace KernelHarness.Analyzers.Rules;

/// <summary>One line of an allowlist.</summary>
internal sealed class AllowlistRule
{
    public AllowlistRule(bool allow, string pattern, string source, int line)
    {
        Allow = allow;
        Pattern = pattern;
        Source = source;
        Line = line;
        Wildcard = pattern.EndsWith(".*", StringComparison.Ordinal);
        Prefix = Wildcard ? pattern.Substring(0, pattern.Length - 2) : pattern;
    }

    public bool Allow { get; }
    public string Pattern { get; }
    public string Source { get; }
    public int Line { get; }
    public bool Wildcard { get; }
    public string Prefix { get; }

    public override string ToString() => (Allow ? "+" : "-") + Pattern;
}

/// <summary>
/// The API allowlist of docs/assignments.md, read exactly as the grader's IL check reads it
/// (src/KernelHarness.Grader/IlCheck/Allowlist.cs): <c>+Name</c> / <c>-Name</c> / <c>include default</c>;
/// the longest matching prefix wins, an exact name beats a wildcard, a later line wins a tie; what no rule
/// matches is refused. The default list is the same file, embedded under the same logical name.
/// </summary>
internal sealed class Allowlist
{
    public const string DefaultSource = "default.allowlist";
    private readonly List<AllowlistRule> rules;
    private readonly ConcurrentDictionary<string, AllowlistRule?> decisions = new(StringComparer.Ordinal);

    private Allowlist(List<AllowlistRule> rules) => this.rules = rules;

    private static readonly Lazy<Allowlist> DefaultList = new(() => Parse(DefaultText(), DefaultSource, out _));

    public static Allowlist Default => DefaultList.Value;

    public static string DefaultText()
    {
        using var stream = typeof(Allowlist).Assembly.GetManifestResourceStream("KernelHarness.default.allowlist");
        if (stream is null)
            return "+KernelHarness.*\n+System.*\n";
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>Parses a list; malformed lines are skipped and the first problem is returned in <paramref name="error"/>.</summary>
    public static Allowlist Parse(string text, string source, out string? error)
    {
        error = null;
        var list = new List<AllowlistRule>();
        var lines = text.Replace("\r\n", "\n").Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            int hash = line.IndexOf('#');
            if (hash >= 0)
                line = line.Substring(0, hash);
            line = line.Trim();
            if (line.Length == 0)
                continue;
            if (line == "include default")
            {
                if (source != DefaultSource)
                    list.AddRange(Default.rules);
                continue;
            }
            if ((line[0] != '+' && line[0] != '-') || line.Length < 2)
            {
                error ??= $"{source}:{i + 1}: expected '+Name', '-Name' or 'include default', got '{line}'";
                continue;
            }
            var pattern = line.Substring(1).Trim();
            int star = pattern.IndexOf('*');
            if (star >= 0 && !(pattern.EndsWith(".*", StringComparison.Ordinal) && star == pattern.Length - 1))
            {
                error ??= $"{source}:{i + 1}: '*' is allowed only as a final '.*' ('{pattern}')";
                continue;
            }
            list.Add(new AllowlistRule(line[0] == '+', pattern, source, i + 1));
        }
        return new Allowlist(list);
    }

    /// <summary>The rule that decides a dotted name, or null (refused: no rule).</summary>
    public AllowlistRule? Decide(string name) => decisions.TryGetValue(name, out var known) ? known : decisions.GetOrAdd(name, DecideCore);

    private AllowlistRule? DecideCore(string name)
    {
        AllowlistRule? best = null;
        int bestScore = -1;
        foreach (var r in rules)
        {
            var prefix = r.Prefix;
            bool match = r.Wildcard
                ? name.StartsWith(prefix + ".", StringComparison.Ordinal)
                : name == prefix || name.StartsWith(prefix + ".", StringComparison.Ordinal);
            if (!match)
                continue;
            int score = prefix.Length * 4 + (name == prefix ? 2 : 0) + (r.Wildcard ? 0 : 1);
            if (score >= bestScore)
            {
                best = r;
                bestScore = score;
            }
        }
        return best;
    }

    /// <summary>Null when allowed; else the reason, worded as the grader words it.</summary>
    public string? Refusal(string name)
    {
        var rule = Decide(name);
        if (rule is not null && rule.Allow)
            return null;
        return rule is null ? "no allowlist rule permits it" : $"refused by '{rule}' ({rule.Source}:{rule.Line})";
    }
}

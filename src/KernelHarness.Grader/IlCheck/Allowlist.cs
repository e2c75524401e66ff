using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;

namespace KernelHarness.Grader.IlCheck;

/// <summary>One line of an allowlist.</summary>
public sealed record AllowlistRule(bool Allow, string Pattern, string Source, int Line)
{
    public bool Wildcard => Pattern.EndsWith(".*", StringComparison.Ordinal);
    public string Prefix => Wildcard ? Pattern[..^2] : Pattern;
    public override string ToString() => (Allow ? "+" : "-") + Pattern;
}

/// <summary>
/// The API allowlist (docs/assignments.md, rules.md KH9001): lines <c>+Name</c> / <c>-Name</c>;
/// <c>Ns.*</c> covers everything below Ns, a type name covers its members; the most specific
/// (longest) matching rule wins, an exact name beating a wildcard; what no rule matches is refused.
/// <c>include default</c> pulls in the default list (an assignment's file extends it).
/// </summary>
public sealed class Allowlist
{
    private readonly List<AllowlistRule> rules;

    private Allowlist(List<AllowlistRule> rules) => this.rules = rules;

    public IReadOnlyList<AllowlistRule> Rules => rules;

    /// <summary>The default list, shared with the KH9001 analyzer.</summary>
    public static Allowlist Default { get; } = Parse(DefaultText, "default.allowlist");

    public static string DefaultText
    {
        get
        {
            using var stream = typeof(Allowlist).Assembly.GetManifestResourceStream("KernelHarness.default.allowlist")
                ?? throw new InvalidOperationException("The default allowlist is not embedded in the grader.");
            using var reader = new StreamReader(stream);
            return reader.ReadToEnd();
        }
    }

    /// <summary>The allowlist an assignment names: <c>default</c> or a file in its folder.</summary>
    public static Allowlist ForAssignment(string allowlist, string assignmentDirectory) =>
        allowlist == "default" ? Default : Parse(File.ReadAllText(Path.Combine(assignmentDirectory, allowlist)), allowlist);

    public static Allowlist Parse(string text, string source)
    {
        var list = new List<AllowlistRule>();
        var lines = text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            int hash = line.IndexOf('#', StringComparison.Ordinal);
            if (hash >= 0)
                line = line[..hash];
            line = line.Trim();
            if (line.Length == 0)
                continue;
            if (line == "include default")
            {
                if (source == "default.allowlist")
                    throw new FormatException($"{source}:{i + 1}: the default list cannot include itself");
                list.AddRange(Default.rules);
                continue;
            }
            if (line[0] is not ('+' or '-') || line.Length < 2)
                throw new FormatException($"{source}:{i + 1}: expected '+Name', '-Name' or 'include default', got '{line}'");
            var pattern = line[1..].Trim();
            if (pattern.Contains('*', StringComparison.Ordinal) && !(pattern.EndsWith(".*", StringComparison.Ordinal) && pattern.IndexOf('*', StringComparison.Ordinal) == pattern.Length - 1))
                throw new FormatException($"{source}:{i + 1}: '*' is allowed only as a final '.*' ('{pattern}')");
            list.Add(new AllowlistRule(line[0] == '+', pattern, source, i + 1));
        }
        return new Allowlist(list);
    }

    /// <summary>The rule that decides <paramref name="name"/> (a dotted namespace.type[.member] name), or null (refused: no rule).</summary>
    public AllowlistRule? Decide(string name)
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
            if (score >= bestScore) // later lines win ties, so an assignment's file overrides what it includes
            {
                best = r;
                bestScore = score;
            }
        }
        return best;
    }

    public bool IsAllowed(string name) => Decide(name)?.Allow ?? false;
}

using System.Collections.Generic;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis.Text;

namespace KernelHarness.Analyzers.Tests.Infrastructure;

/// <summary>A span marked in test source: <c>[|…|]</c> (the rule under test), <c>{|KH1001:…|}</c>, <c>{|#0:…|}</c>.</summary>
public sealed record MarkedSpan(string? Id, int? Index, TextSpan Span);

/// <summary>Parses Meziantou-style markup out of test source.</summary>
public static class Markup
{
    private static readonly Regex Open = new(@"\[\||\{\|(?<tag>#\d+|[A-Z]+\d+):", RegexOptions.Compiled);

    public static (string Source, List<MarkedSpan> Spans) Parse(string markup)
    {
        var sb = new StringBuilder();
        var spans = new List<MarkedSpan>();
        var stack = new Stack<(string? Id, int? Index, int Start, bool Brace)>();
        int i = 0;
        while (i < markup.Length)
        {
            var m = Open.Match(markup, i);
            int close = markup.IndexOf("|]", i, System.StringComparison.Ordinal);
            int closeBrace = markup.IndexOf("|}", i, System.StringComparison.Ordinal);
            int next = Min(m.Success ? m.Index : -1, Min(close, closeBrace));
            if (next < 0)
            {
                sb.Append(markup, i, markup.Length - i);
                break;
            }
            sb.Append(markup, i, next - i);
            if (m.Success && m.Index == next)
            {
                var tag = m.Groups["tag"].Success ? m.Groups["tag"].Value : null;
                bool brace = markup[next] == '{';
                stack.Push(tag is null ? (null, null, sb.Length, brace) : tag.StartsWith('#') ? (null, int.Parse(tag.Substring(1), System.Globalization.CultureInfo.InvariantCulture), sb.Length, brace) : (tag, null, sb.Length, brace));
                i = m.Index + m.Length;
            }
            else
            {
                var (id, index, start, _) = stack.Pop();
                spans.Add(new MarkedSpan(id, index, TextSpan.FromBounds(start, sb.Length)));
                i = next + 2;
            }
        }
        return (sb.ToString(), spans);
    }

    private static int Min(int a, int b) => a < 0 ? b : b < 0 ? a : System.Math.Min(a, b);
}

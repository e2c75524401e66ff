using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace KernelHarness.Grader.Outputs;

/// <summary>One student's row, read back from their results.json (so shards merge from files alone).</summary>
public sealed class StudentRow
{
    public required string Student { get; init; }
    public double Score { get; init; }
    public double MaxScore { get; init; }
    public string Status { get; init; } = "";
    public SortedDictionary<string, double> Groups { get; } = new(StringComparer.Ordinal);
    public List<(string Test, bool Passed, string Message)> Tests { get; } = new();
    public List<string> Findings { get; } = new();

    public static StudentRow? Read(string resultsJson)
    {
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(resultsJson));
        }
        catch (Exception ex) when (ex is IOException or System.Text.Json.JsonException)
        {
            return null;
        }
        if (root is null)
            return null;
        var extra = root["extra_data"];
        var row = new StudentRow
        {
            Student = extra?["submission"]?.GetValue<string>() ?? Path.GetFileName(Path.GetDirectoryName(resultsJson)) ?? "?",
            Score = root["score"]?.GetValue<double>() ?? 0,
            MaxScore = extra?["max_score"]?.GetValue<double>() ?? 0,
            Status = extra?["kh_status"]?.GetValue<string>() ?? "",
        };
        if (extra?["groups"] is JsonObject groups)
        {
            foreach (var (name, value) in groups)
                row.Groups[name] = value?["score"]?.GetValue<double>() ?? 0;
        }
        foreach (var t in root["tests"]?.AsArray() ?? new JsonArray())
        {
            var tags = t?["tags"]?.AsArray().Select(x => x?.GetValue<string>() ?? "").ToList() ?? new List<string>();
            var name = t?["name"]?.GetValue<string>() ?? "";
            var output = t?["output"]?.GetValue<string>() ?? "";
            if (tags.Contains("analyzers"))
            {
                foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
                {
                    var m = System.Text.RegularExpressions.Regex.Match(line, @"\b(KH\d{4}|CS\d{4})\b");
                    if (m.Success)
                        row.Findings.Add(m.Value);
                }
                continue;
            }
            if (tags.Contains("il-check"))
            {
                row.Findings.Add("KH9001");
                continue;
            }
            if (tags.Contains("build") || tags.Contains("grader"))
                continue;
            var problem = output.Split('\n').FirstOrDefault(l => l.TrimStart().StartsWith("Problem:", StringComparison.Ordinal))?.Trim()["Problem:".Length..].Trim() ?? "";
            row.Tests.Add((name, t?["status"]?.GetValue<string>() == "passed", problem));
        }
        return row;
    }
}

/// <summary>class.csv (LMS-friendly) and class.html (a static, self-contained page: histogram, pass rates, frequent findings and failures).</summary>
public static class ClassReport
{
    public static List<StudentRow> Collect(IEnumerable<string> outputDirectories)
    {
        var rows = new Dictionary<string, StudentRow>(StringComparer.Ordinal);
        foreach (var dir in outputDirectories)
        {
            if (!Directory.Exists(dir))
                continue;
            foreach (var student in Directory.GetDirectories(dir).OrderBy(d => d, StringComparer.Ordinal))
            {
                var results = Path.Combine(student, "results.json");
                if (File.Exists(results) && StudentRow.Read(results) is { } row)
                    rows[Path.GetFileName(student)] = row;
            }
        }
        return rows.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Value).ToList();
    }

    public static void Write(IReadOnlyList<StudentRow> rows, string outDir, string title)
    {
        Directory.CreateDirectory(outDir);
        File.WriteAllText(Path.Combine(outDir, "class.csv"), Csv(rows));
        File.WriteAllText(Path.Combine(outDir, "class.html"), Html(rows, title));
    }

    public static string Csv(IReadOnlyList<StudentRow> rows)
    {
        var groups = rows.SelectMany(r => r.Groups.Keys).Distinct().OrderBy(g => g, StringComparer.Ordinal).ToList();
        var sb = new StringBuilder();
        sb.Append(string.Join(",", new[] { "student", "score", "max_score", "status" }.Concat(groups).Select(Field))).Append("\r\n");
        foreach (var r in rows)
        {
            var cells = new List<string> { r.Student, F(r.Score), F(r.MaxScore), r.Status };
            cells.AddRange(groups.Select(g => r.Groups.TryGetValue(g, out var v) ? F(v) : ""));
            sb.Append(string.Join(",", cells.Select(Field))).Append("\r\n");
        }
        return sb.ToString();
    }

    private static string F(double d) => d.ToString("0.##", CultureInfo.InvariantCulture);

    private static string Field(string s)
    {
        // Quote as RFC 4180 says; neutralize spreadsheet formulas in student-controlled names.
        if (s.Length > 0 && s[0] is '=' or '+' or '-' or '@' && !double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out _))
            s = "'" + s;
        return s.IndexOfAny(new[] { ',', '"', '\n', '\r' }) >= 0 ? "\"" + s.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : s;
    }

    public static string Html(IReadOnlyList<StudentRow> rows, string title)
    {
        static string E(string s) => WebUtility.HtmlEncode(s);
        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>").Append(E(title)).Append("</title>\n");
        sb.Append("<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}th{background:#f3f3f3}.bar{fill:#4a7bd0}.num{text-align:right}.rate{display:inline-block;height:.8em;background:#5a5}</style></head><body>\n");
        sb.Append("<h1>").Append(E(title)).Append("</h1>\n");
        double max = rows.Count == 0 ? 0 : rows.Max(r => r.MaxScore);
        sb.Append(CultureInfo.InvariantCulture, $"<p id=\"summary\">{rows.Count} submission(s); mean score {(rows.Count == 0 ? 0 : rows.Average(r => r.Score)):0.##} / {max:0.##}; median {Median(rows.Select(r => r.Score).ToList()):0.##}.</p>\n");

        // Histogram: 10 bins over [0, max].
        sb.Append("<h2>Score distribution</h2>\n");
        int bins = 10;
        var counts = new int[bins];
        foreach (var r in rows)
        {
            int b = max <= 0 ? 0 : (int)Math.Min(bins - 1, Math.Floor(r.Score / max * bins));
            counts[b]++;
        }
        int top = Math.Max(1, counts.Max());
        sb.Append("<svg id=\"histogram\" width=\"520\" height=\"240\" role=\"img\" aria-label=\"score histogram\">\n");
        for (int i = 0; i < bins; i++)
        {
            double h = 180.0 * counts[i] / top;
            sb.Append(CultureInfo.InvariantCulture, $"<rect class=\"bar\" data-count=\"{counts[i]}\" x=\"{20 + i * 50}\" y=\"{200 - h:0.#}\" width=\"44\" height=\"{h:0.#}\"><title>{max * i / bins:0.#}–{max * (i + 1) / bins:0.#}: {counts[i]}</title></rect>");
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{42 + i * 50}\" y=\"{195 - h:0.#}\" font-size=\"11\" text-anchor=\"middle\">{counts[i]}</text>");
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{42 + i * 50}\" y=\"218\" font-size=\"10\" text-anchor=\"middle\">{max * i / bins:0.#}</text>\n");
        }
        sb.Append("</svg>\n");

        sb.Append("<h2>Pass rate per test</h2>\n<table id=\"pass-rates\"><tr><th>Test</th><th>Passed</th><th>Rate</th></tr>\n");
        foreach (var g in rows.SelectMany(r => r.Tests).GroupBy(t => t.Test).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            int passed = g.Count(t => t.Passed), n = g.Count();
            double rate = 100.0 * passed / n;
            sb.Append(CultureInfo.InvariantCulture, $"<tr><td>{E(g.Key)}</td><td class=\"num\">{passed}/{n}</td><td><span class=\"rate\" style=\"width:{rate:0}px\"></span> {rate:0}%</td></tr>\n");
        }
        sb.Append("</table>\n");

        sb.Append("<h2>Most frequent analyzer findings</h2>\n<table id=\"findings\"><tr><th>Rule</th><th>Findings</th><th>Submissions</th></tr>\n");
        foreach (var g in rows.SelectMany(r => r.Findings.Select(f => (r.Student, f))).GroupBy(x => x.f).OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal).Take(20))
            sb.Append(CultureInfo.InvariantCulture, $"<tr><td>{E(g.Key)}</td><td class=\"num\">{g.Count()}</td><td class=\"num\">{g.Select(x => x.Student).Distinct().Count()}</td></tr>\n");
        sb.Append("</table>\n");

        sb.Append("<h2>Most frequent failures (failed invariants)</h2>\n<table id=\"failures\"><tr><th>Test</th><th>Problem</th><th>Submissions</th></tr>\n");
        foreach (var g in rows.SelectMany(r => r.Tests.Where(t => !t.Passed)).GroupBy(t => (t.Test, t.Message)).OrderByDescending(g => g.Count()).ThenBy(g => g.Key.Test, StringComparer.Ordinal).Take(25))
            sb.Append(CultureInfo.InvariantCulture, $"<tr><td>{E(g.Key.Test)}</td><td>{E(g.Key.Message)}</td><td class=\"num\">{g.Count()}</td></tr>\n");
        sb.Append("</table>\n");

        sb.Append("<h2>Students</h2>\n<table id=\"students\"><tr><th>Student</th><th>Score</th><th>Status</th></tr>\n");
        foreach (var r in rows)
            sb.Append(CultureInfo.InvariantCulture, $"<tr><td>{E(r.Student)}</td><td class=\"num\">{r.Score:0.##} / {r.MaxScore:0.##}</td><td>{E(r.Status)}</td></tr>\n");
        sb.Append("</table>\n</body></html>\n");
        return sb.ToString();
    }

    private static double Median(List<double> xs)
    {
        if (xs.Count == 0)
            return 0;
        xs.Sort();
        return xs.Count % 2 == 1 ? xs[xs.Count / 2] : (xs[xs.Count / 2 - 1] + xs[xs.Count / 2]) / 2;
    }
}

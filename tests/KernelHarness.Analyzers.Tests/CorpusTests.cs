using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using KernelHarness.Analyzers.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace KernelHarness.Analyzers.Tests;

/// <summary>
/// Valid corpus: drivers that follow every rule (and the spec's student examples) draw nothing from any
/// analyzer. Labelled corpus: every expected finding is marked "expect: KHnnnn" at the end of its line;
/// precision and recall are printed and must reach 0.98 and 0.95.
/// </summary>
public class CorpusTests
{
    private static readonly Regex Expect = new(@"expect:\s*(?<ids>KH\d{4}(\s*,\s*KH\d{4})*)", RegexOptions.Compiled);
    private readonly ITestOutputHelper output;

    public CorpusTests(ITestOutputHelper output) => this.output = output;

    private static string CorpusDir(string name) => Path.Combine(AppContext.BaseDirectory, "Corpus", name);

    public static IEnumerable<object[]> ValidFiles()
        => TestProject.CorpusFiles().Where(row => !((string)row[0]).StartsWith("Corpus" + Path.DirectorySeparatorChar + "Labelled" + Path.DirectorySeparatorChar, StringComparison.Ordinal));

    [Fact]
    public void Valid_corpus_includes_the_spec_examples()
    {
        var names = ValidFiles().Select(o => Path.GetFileName((string)o[0])).ToList();
        Assert.Contains("NetDriver.cs", names);
        Assert.Contains("ObjectCache.cs", names);
        Assert.Contains("AddressSpace.cs", names);
        Assert.True(names.Count >= 6);
    }

    [Theory]
    [MemberData(nameof(ValidFiles))]
    public void All_analyzers_are_silent_on_valid_code(string file)
    {
        var compilation = TestProject.Compile(TestProject.DriverOf(file), withUsings: false);
        TestProject.AssertCompiles(compilation);
        var diagnostics = TestProject.Analyze(compilation, TestProject.AllAnalyzers);
        Assert.True(diagnostics.IsEmpty, string.Join("\n", diagnostics.Select(d => d.ToString())));
    }

    /// <summary>Each rule's findings in the labelled corpus at least: enough that one wrong answer shows in its row.</summary>
    private const int FindingsPerRule = 6;

    [Fact]
    public void Labelled_corpus_meets_precision_and_recall_targets()
    {
        var tally = new SortedDictionary<string, Tally>(StringComparer.Ordinal);
        Tally For(string id) => tally.TryGetValue(id, out var t) ? t : tally[id] = new Tally();
        var report = new List<string>();
        // A driver may be written in several files (a partial class: Name.Core.cs, Name.Irq.cs): they compile together.
        foreach (var files in TestProject.DriversIn(CorpusDir("Labelled")))
        {
            var expected = new List<(string File, int Line, string Id)>();
            foreach (var (name, source) in files)
            {
                var lines = source.Split('\n');
                for (int i = 0; i < lines.Length; i++)
                {
                    var m = Expect.Match(lines[i]);
                    if (m.Success)
                        foreach (var id in m.Groups["ids"].Value.Split(',').Select(s => s.Trim()))
                            expected.Add((name, i + 1, id));
                }
            }
            var compilation = TestProject.Compile(files, withUsings: false);
            TestProject.AssertCompiles(compilation);
            var actual = TestProject.Analyze(compilation, TestProject.AllAnalyzers)
                .Select(d => (File: Path.GetFileName(d.Location.SourceTree?.FilePath ?? ""), Line: d.Location.GetLineSpan().StartLinePosition.Line + 1, d.Id, Message: d.GetMessage(System.Globalization.CultureInfo.InvariantCulture)))
                .ToList();
            var remaining = expected.ToList();
            foreach (var a in actual)
            {
                var hit = remaining.FindIndex(e => e.File == a.File && e.Line == a.Line && e.Id == a.Id);
                if (hit >= 0) { For(a.Id).TruePositives++; remaining.RemoveAt(hit); }
                else { For(a.Id).FalsePositives++; report.Add($"FP {a.File}:{a.Line} {a.Id} {a.Message}"); }
            }
            foreach (var e in remaining)
            {
                For(e.Id).FalseNegatives++;
                report.Add($"FN {e.File}:{e.Line} {e.Id}");
            }
        }
        int tp = tally.Values.Sum(t => t.TruePositives), fp = tally.Values.Sum(t => t.FalsePositives), fn = tally.Values.Sum(t => t.FalseNegatives);
        var summary = FormattableString.Invariant($"Labelled corpus: TP={tp} FP={fp} FN={fn} precision={Precision(tp, fp):F3} recall={Recall(tp, fn):F3}");
        output.WriteLine(summary);
        Console.WriteLine(summary);
        foreach (var (id, t) in tally)
        {
            var row = FormattableString.Invariant($"  {id}: TP={t.TruePositives} FP={t.FalsePositives} FN={t.FalseNegatives} precision={Precision(t.TruePositives, t.FalsePositives):F3} recall={Recall(t.TruePositives, t.FalseNegatives):F3}");
            output.WriteLine(row);
            Console.WriteLine(row);
        }
        foreach (var r in report)
            output.WriteLine(r);
        var thin = TestProject.AllDescriptors.Select(d => d.Id).Where(id => !tally.TryGetValue(id, out var t) || t.TruePositives + t.FalseNegatives < FindingsPerRule).ToList();
        Assert.True(thin.Count == 0, $"every rule needs at least {FindingsPerRule} labelled findings in the corpus; too few for: {string.Join(", ", thin)}");
        Assert.True(Precision(tp, fp) >= 0.98 && Recall(tp, fn) >= 0.95, summary + "\n" + string.Join("\n", report));
    }

    private static double Precision(int tp, int fp) => tp + fp == 0 ? 1 : (double)tp / (tp + fp);

    private static double Recall(int tp, int fn) => tp + fn == 0 ? 1 : (double)tp / (tp + fn);

    private sealed class Tally
    {
        public int TruePositives;
        public int FalsePositives;
        public int FalseNegatives;
    }
}

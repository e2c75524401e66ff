using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Text.Json.Nodes;
using System.Xml.Linq;
using KernelHarness.Grader.Outputs;
using KernelHarness.Grader.Packaging;
using KernelHarness.Grader.Scoring;
using Xunit;
using Xunit.Abstractions;

namespace KernelHarness.Grader.Tests;

[Collection("graded")]
public sealed class EndToEndTests
{
    private readonly GradedFixture fixture;
    private readonly ITestOutputHelper output;

    public EndToEndTests(GradedFixture fixture, ITestOutputHelper output)
    {
        this.fixture = fixture;
        this.output = output;
    }

    private static string CpuState => Repo.Assignment("cpu-state");

    private static string Submission(string name) => Path.Combine(CpuState, "submissions", name);

    [Fact]
    public void The_reference_submission_scores_full_marks_and_every_output_is_written()
    {
        var sw = Stopwatch.StartNew();
        var (r, outDir) = fixture.Grade(Submission("reference"), CpuState);
        output.WriteLine($"graded in {sw.Elapsed.TotalSeconds:0.0} s (build {r.BuildTime.TotalSeconds:0.0} s); sandbox: {r.Sandbox}");
        Assert.True(r.Status == GradeStatus.Graded, r.Reason);
        Assert.True(r.Score == r.MaxScore && r.MaxScore > 0, string.Join("\n", r.Tests.Where(t => !t.Passed).Select(t => t.Output)));
        foreach (var f in new[] { "results.json", "junit.xml", "report.md", "diagnostics.sarif" })
            Assert.True(File.Exists(Path.Combine(outDir, f)), f);
        var json = GradedFixture.ResultsJson(outDir);
        foreach (var key in new[] { "score", "execution_time", "output", "output_format", "visibility", "stdout_visibility", "tests", "leaderboard" })
            Assert.True(json.ContainsKey(key), key);
        var test = json["tests"]!.AsArray()[0]!.AsObject();
        foreach (var key in new[] { "name", "score", "max_score", "status", "output", "visibility", "tags" })
            Assert.True(test.ContainsKey(key), key);
        Assert.Contains(json["tests"]!.AsArray(), t => t!["visibility"]!.GetValue<string>() == "hidden");
        var junit = XDocument.Load(Path.Combine(outDir, "junit.xml"));
        Assert.Equal(r.Assignment.Groups.Count, junit.Root!.Elements("testsuite").Count());
        var sarif = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "diagnostics.sarif")))!;
        Assert.Equal("2.1.0", sarif["version"]!.GetValue<string>());
        Assert.DoesNotContain("/tmp/kh-grade-", File.ReadAllText(Path.Combine(outDir, "diagnostics.sarif")), StringComparison.Ordinal);
    }

    [Fact]
    public void A_buggy_submission_loses_exactly_the_points_of_the_tests_that_catch_it()
    {
        var dir = Submission("put-cpu-no-decrement");
        var (r, outDir) = fixture.Grade(dir, CpuState);
        Assert.Equal(GradeStatus.Graded, r.Status);
        Assert.True(r.Score < r.MaxScore);
        foreach (var (id, text) in KernelHarness.Testing.ExpectedFailures.Read(dir))
        {
            var t = r.Tests.Single(x => x.Id == id);
            Assert.False(t.Passed, id);
            Assert.Equal(0, t.Score);
            if (text is not null)
                Assert.Contains(text, t.Output, StringComparison.Ordinal);
            Assert.Contains($"kh replay {dir} --test '{id}' --seed {t.Outcome.Seed} --assignment {CpuState}", t.Output, StringComparison.Ordinal);
        }
        Assert.Equal(r.MaxScore - r.Tests.Where(t => !t.Passed).Sum(t => t.MaxScore), r.Score, 1);
        var report = File.ReadAllText(Path.Combine(outDir, "report.md"));
        Assert.Contains("Reproduce: `kh replay", report, StringComparison.Ordinal);
    }

    [Fact]
    public void Grading_twice_gives_identical_results_apart_from_timing()
    {
        var (_, first) = fixture.Grade(Submission("put-cpu-no-decrement"), CpuState);
        var (_, second) = fixture.Grade(Submission("put-cpu-no-decrement"), CpuState, key: "again");
        var a = GradedFixture.ResultsJson(first);
        var b = GradedFixture.ResultsJson(second);
        a.Remove("execution_time");
        b.Remove("execution_time");
        Assert.Equal(a.ToJsonString(), b.ToJsonString());
    }

    [Fact]
    public void Replay_reproduces_a_failed_test_with_its_seed()
    {
        var dir = Submission("put-cpu-no-decrement");
        var (id, _) = KernelHarness.Testing.ExpectedFailures.Read(dir)[0];
        var replay = Replay.Run(dir, CpuState, id, 1);
        output.WriteLine(replay.Text);
        Assert.Equal(1, replay.ExitCode);
        Assert.Contains("FAIL " + id, replay.Text, StringComparison.Ordinal);
        Assert.Contains("Kernel log:", replay.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void Grade_all_grades_a_class_and_writes_class_csv_and_html_and_merge_joins_shards()
    {
        var subs = Path.Combine(fixture.Root, "class");
        foreach (var name in new[] { "reference", "put-cpu-no-decrement", "save-does-not-disable" })
            CopyDir(Submission(name), Path.Combine(subs, name));
        CopyDir(Repo.Hostile("infinite-loop"), Path.Combine(subs, "zz-infinite-loop"));
        var timings = new Dictionary<int, double>();
        var outs = new List<string>();
        foreach (var shard in new[] { 1, 2 })
        {
            var outDir = Path.Combine(fixture.Root, "class-out-" + shard);
            outs.Add(outDir);
            var sw = Stopwatch.StartNew();
            var results = GradeAll.Run(subs, CpuState, outDir, jobs: 2, shard, 2, testTimeoutSeconds: 3);
            output.WriteLine($"shard {shard}/2: {results.Count} submission(s) in {sw.Elapsed.TotalSeconds:0.0} s");
            Assert.True(File.Exists(Path.Combine(outDir, "class.csv")));
        }
        var merged = Path.Combine(fixture.Root, "class-merged");
        Assert.Equal(4, GradeAll.Merge(outs, merged, "cpu-state"));
        var csv = File.ReadAllLines(Path.Combine(merged, "class.csv"));
        Assert.Equal(5, csv.Length);
        Assert.StartsWith("student,score,max_score,status,concurrency,directed,property", csv[0], StringComparison.Ordinal);
        var reference = csv.Single(l => l.StartsWith("reference,", StringComparison.Ordinal));
        Assert.StartsWith("reference,100,100,Graded", reference, StringComparison.Ordinal);
        Assert.Contains("<svg id=\"histogram\"", File.ReadAllText(Path.Combine(merged, "class.html")), StringComparison.Ordinal);
    }

    [Fact]
    public void Class_html_renders_in_headless_chromium()
    {
        var chromium = new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser" }.FirstOrDefault(File.Exists);
        var rows = new List<StudentRow>();
        var html = ClassReport.Html(rows, "empty class");
        var dir = Path.Combine(fixture.Root, "html");
        Directory.CreateDirectory(dir);
        var (r, outDir) = fixture.Grade(Submission("reference"), CpuState);
        _ = r;
        var row = StudentRow.Read(Path.Combine(outDir, "results.json"))!;
        ClassReport.Write(new[] { row }, dir, "cpu-state");
        if (chromium is null)
        {
            output.WriteLine("SKIPPED: chromium is not installed here (CI installs it with apt-get install -y chromium); the page was not rendered.");
            Assert.Contains("<table id=\"pass-rates\">", File.ReadAllText(Path.Combine(dir, "class.html")), StringComparison.Ordinal);
            return;
        }
        var run = Execution.ProcessRunner.Run(chromium, new[] { "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", "file://" + Path.Combine(dir, "class.html") },
            dir, TimeSpan.FromSeconds(60));
        Assert.Contains("id=\"histogram\"", run.Output, StringComparison.Ordinal);
        Assert.Contains("1 submission(s)", run.Output, StringComparison.Ordinal);
        Assert.Contains("cpu state/directed/", run.Output, StringComparison.Ordinal);
        _ = html;
    }

    [Fact]
    public void The_gradescope_package_grades_a_submission_in_the_documented_layout()
    {
        var toolDir = Directory.GetDirectories(Path.Combine(Repo.Root, "src", "kh", "bin"), "net10.0", SearchOption.AllDirectories)
            .Where(d => File.Exists(Path.Combine(d, "kh.dll"))).OrderByDescending(d => File.GetLastWriteTimeUtc(Path.Combine(d, "kh.dll"))).First();
        var zip = Path.Combine(fixture.Root, "gs", "autograder.zip");
        GradescopePackager.Create(CpuState, zip, toolDir);
        var root = Path.Combine(fixture.Root, "gs", "autograder");
        var source = Path.Combine(root, "source");
        ZipFile.ExtractToDirectory(zip, source);
        Assert.True(File.Exists(Path.Combine(source, "setup.sh")));
        Assert.False(Directory.Exists(Path.Combine(source, "assignment", "submissions")));
        var submission = Path.Combine(root, "submission");
        CopyDir(Submission("reference"), submission);
        var results = Path.Combine(root, "results");
        var run = Execution.ProcessRunner.Run("/bin/bash", new[] { Path.Combine(source, "run_autograder") }, root, TimeSpan.FromMinutes(3),
            new Dictionary<string, string?> { ["KH_SOURCE_DIR"] = source, ["KH_SUBMISSION_DIR"] = submission, ["KH_RESULTS_DIR"] = results });
        output.WriteLine(run.Output);
        Assert.Equal(0, run.ExitCode);
        var json = GradedFixture.ResultsJson(results);
        Assert.Equal(100, json["score"]!.GetValue<double>());
    }

    internal static void CopyDir(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, f));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(f, target, overwrite: true);
        }
    }
}

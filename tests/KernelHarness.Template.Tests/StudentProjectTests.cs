using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using Xunit;

namespace KernelHarness.Template.Tests;

/// <summary>
/// The template flow from the packed packages, for every assignment of the template: the fresh project
/// builds with no warning, its public tests fail on the stubs with the grader's own tests, seeds and
/// messages, and kh grade scores it 0 from its workflow. For two assignments, the reference solution
/// passes dotnet test and gets full marks, and a buggy submission fails its expected tests.
/// </summary>
[Collection(TemplateEnvironment.Collection)]
public sealed class StudentProjectTests
{
    /// <summary>The assignments that get the heavier checks (reference solution, buggy submission).</summary>
    public static TheoryData<string, string> Heavy => new()
    {
        { "cpu-state", "save-does-not-disable" },
        { "irq", "free-first-action" },
    };

    private readonly TemplateEnvironment env;

    public StudentProjectTests(TemplateEnvironment env) => this.env = env;

    [Theory]
    [MemberData(nameof(Repo.AssignmentData), MemberType = typeof(Repo))]
    public void Fresh_project_builds_with_no_warning(string assignment)
    {
        var p = env.Project(assignment);
        var build = p.Step("Build (analyzers on)");
        Assert.True(build.Succeeded, build.ToString());
        Assert.Empty(StudentProject.Warnings(build));
        Assert.True(p.Step("Restore the kh tool").Succeeded, p.Step("Restore the kh tool").ToString());
        // Generated conformance tests, not hand-written glue (the driver's ships with the template).
        var generated = Directory.GetFiles(p.Dir, "*.cs", SearchOption.TopDirectoryOnly).Select(Path.GetFileName).ToList();
        Assert.DoesNotContain(generated, f => f!.Contains("Conformance", StringComparison.Ordinal) && assignment != "driver");
    }

    [Theory]
    [MemberData(nameof(Repo.AssignmentData), MemberType = typeof(Repo))]
    public void Fresh_project_fails_every_public_test_with_the_stub_message_and_the_graders_seed_and_message(string assignment)
    {
        var p = env.Project(assignment);
        var test = p.Step("Public tests");
        Assert.False(test.Succeeded, "the stubs must fail the public tests\n" + test);
        Assert.NotEmpty(p.FreshTests);
        Assert.All(p.FreshTests, t => Assert.Equal("Failed", t.Outcome));
        Assert.All(p.FreshTests, t => Assert.Contains("is not implemented yet: write it in " + p.StubFileName, t.Message));

        // dotnet test runs exactly the grader's visible tests, with the same seeds, rules and problems.
        var graded = StudentProject.VisibleTests(p.FreshResults);
        var ids = p.FreshTests.Select(t => t.FailedId!).ToList();
        Assert.All(ids, id => Assert.NotNull(id));
        Assert.Equal(graded.Keys.OrderBy(k => k, StringComparer.Ordinal), ids.OrderBy(k => k, StringComparer.Ordinal));
        foreach (var t in p.FreshTests)
        {
            var output = graded[t.FailedId!].GetProperty("output").GetString()!;
            foreach (var label in new[] { "Seed", "Rule", "Problem" })
                Assert.Equal(Failure.Line(output, label), Failure.Line(t.Message, label));
        }
    }

    [Theory]
    [MemberData(nameof(Repo.AssignmentData), MemberType = typeof(Repo))]
    public void Fresh_project_scores_zero_with_kh_grade_and_reports_to_the_job_summary(string assignment)
    {
        var p = env.Project(assignment);
        var grade = p.Step("Grade (public groups)");
        Assert.True(grade.Succeeded, grade.ToString());
        Assert.Equal(0, p.FreshResults.RootElement.GetProperty("score").GetDouble());
        Assert.Contains("Score: 0 /", p.StepSummary);
        Assert.Contains("::error", grade.Output);
    }

    [Theory]
    [MemberData(nameof(Heavy))]
    public void Reference_solution_passes_dotnet_test_and_gets_full_marks_and_a_buggy_one_fails_its_expected_tests(string assignment, string buggy)
    {
        var p = env.Project(assignment);
        try
        {
            p.UseSources(p.Solution);
            var build = p.Build();
            Assert.True(build.Succeeded, build.ToString());
            var (run, tests) = p.Test("reference");
            Assert.True(run.Succeeded, run.ToString());
            Assert.Equal(p.FreshTests.Count, tests.Count);
            Assert.All(tests, t => Assert.Equal("Passed", t.Outcome));
            var (_, results) = p.Grade("reference");
            var max = results.RootElement.GetProperty("tests").EnumerateArray().Sum(t => t.GetProperty("max_score").GetDouble());
            Assert.True(max > 0);
            Assert.Equal(max, results.RootElement.GetProperty("score").GetDouble(), 3);

            p.Reset();
            var submission = Path.Combine(Repo.Examples, assignment, "submissions", buggy);
            p.UseSources(submission);
            build = p.Build();
            Assert.True(build.Succeeded, build.ToString());
            var (buggyRun, buggyTests) = p.Test("buggy");
            Assert.False(buggyRun.Succeeded);
            var failed = buggyTests.Where(t => t.Outcome == "Failed").ToDictionary(t => t.FailedId!, t => t.Message);
            var visible = StudentProject.VisibleTests(p.FreshResults).Keys.ToHashSet();
            var (_, graded) = p.Grade("buggy");
            var gradedTests = graded.RootElement.GetProperty("tests").EnumerateArray().ToDictionary(t => t.GetProperty("name").GetString()!);
            var expected = KernelHarness.Testing.ExpectedFailures.Read(submission);
            Assert.NotEmpty(expected);
            foreach (var (id, text) in expected)
            {
                if (visible.Contains(id))
                {
                    Assert.True(failed.ContainsKey(id), $"dotnet test should fail {id}; failed: {string.Join(", ", failed.Keys)}");
                    if (text is not null)
                        Assert.Contains(text, failed[id]);
                }
                if (gradedTests.TryGetValue(id, out var g))
                    Assert.Equal("failed", g.GetProperty("status").GetString());
            }
            Assert.True(graded.RootElement.GetProperty("score").GetDouble() < max);
        }
        finally
        {
            p.Reset();
        }
    }

    [Fact]
    public void A_failure_replays_by_its_seed_with_the_command_the_student_readme_gives()
    {
        var p = env.Project("cpu-state");
        var readme = File.ReadAllText(Path.Combine(p.Dir, "README.md"));
        Assert.Contains("dotnet kh replay . --assignment assignment --test \"cpu state/directed/NAME\" --seed 1", readme);
        Assert.DoesNotContain("KH_", readme.Replace("KH_STUDENT_TESTS", ""), StringComparison.Ordinal);   // every template token replaced
        var failure = p.FreshTests.First();
        var seed = Failure.Line(failure.Message, "Seed");
        // The line dotnet test prints is the command, word for word.
        var printed = Failure.Line(failure.Message, "Replay");
        Assert.Equal($"dotnet kh replay . --assignment assignment --test \"{failure.FailedId}\" --seed {seed}", printed);
        var replay = env.Shell.Dotnet(p.Dir, printed!["dotnet ".Length..]);
        Assert.Contains("FAIL " + failure.FailedId, replay.Output);
        Assert.Contains(Failure.Line(failure.Message, "Problem")!, replay.Output);
    }

    [Fact]
    public void An_analyzer_finding_shows_in_dotnet_build_with_its_id_and_help_link()
    {
        var p = env.Project("driver");
        var file = Path.Combine(p.Dir, "Finding.cs");
        try
        {
            File.WriteAllText(file, """
                using KernelHarness;
                using static KernelHarness.Kernel;

                namespace DriverLab;

                public static class Finding
                {
                    private static readonly spinlock_t Lock = new();

                    public static void SleepsUnderASpinlock()
                    {
                        spin_lock(Lock);
                        msleep(10);
                        spin_unlock(Lock);
                    }
                }
                """);
            var build = p.Build();
            var line = build.Output.Split('\n').FirstOrDefault(l => l.Contains("Finding.cs(13,", StringComparison.Ordinal) && l.Contains("KH1001", StringComparison.Ordinal));
            Assert.True(line is not null, build.ToString());
            Assert.Contains("error KH1001:", line);   // the assignment's .editorconfig makes it an error
            Assert.Contains("(https://github.com/kernelharness/kernelharness/blob/main/docs/rules/KH1001.md)", line);
        }
        finally
        {
            File.Delete(file);
        }
    }
}

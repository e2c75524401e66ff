using System;
using System.IO;
using System.Linq;
using KernelHarness.Grader.Scoring;
using Xunit;
using Xunit.Abstractions;

namespace KernelHarness.Grader.Tests;

/// <summary>Hostile submissions (Hostile/&lt;case&gt;/, cpu-state): refused by the IL check, or contained, affecting only their own score.</summary>
[Collection("graded")]
public sealed class HostileTests
{
    private readonly GradedFixture fixture;
    private readonly ITestOutputHelper output;

    public HostileTests(GradedFixture fixture, ITestOutputHelper output)
    {
        this.fixture = fixture;
        this.output = output;
    }

    private GradeResult Grade(string name, double testTimeout = 3)
    {
        var (r, _) = fixture.Grade(Repo.Hostile(name), Repo.Assignment("cpu-state"), testTimeout);
        output.WriteLine($"{name}: {r.Score}/{r.MaxScore} {r.Status} {r.Reason}");
        foreach (var t in r.Tests.Where(t => !t.Passed))
            output.WriteLine($"  {t.Id}: {t.Outcome.Status}: {t.Outcome.Message}");
        foreach (var v in r.Violations)
            output.WriteLine("  " + v);
        return r;
    }

    [Theory]
    [InlineData("reads-file", "System.IO.File")]
    [InlineData("opens-socket", "System.Net.Sockets.Socket")]
    [InlineData("reflection-runner", "System.Reflection")]
    [InlineData("environment-exit", "System.Environment.Exit")]
    [InlineData("prints-fake-results", "System.Console")]
    [InlineData("calls-reference", "KernelHarness.Reference.CpuState.ReferenceCpuState")]
    public void Forbidden_apis_are_refused_with_file_and_line(string name, string api)
    {
        var r = Grade(name);
        Assert.Equal(GradeStatus.Refused, r.Status);
        Assert.Equal(0, r.Score);
        var v = r.Violations.First(x => x.Api.StartsWith(api, StringComparison.Ordinal));
        Assert.Equal("CpuState.cs", v.File);
        Assert.True(v.Line > 0, v.ToString());
        Assert.Empty(r.Tests);
    }

    [Theory]
    [InlineData("infinite-loop", "TimedOut")]
    [InlineData("stack-overflow", "stack overflow")]
    [InlineData("unbounded-allocation", "memory")]
    [InlineData("exception-tostring-never-returns", "TimedOut")]
    public void Runaway_code_fails_only_its_own_tests_and_the_run_goes_on(string name, string evidence)
    {
        var r = Grade(name);
        Assert.Equal(GradeStatus.Graded, r.Status);
        var failed = r.Tests.Where(t => !t.Passed).ToList();
        Assert.NotEmpty(failed);
        Assert.True(failed.Count <= 3, $"{failed.Count} tests failed: the damage should stay with the tests that call in_nmi()");
        Assert.Contains(failed, t => t.Outcome.Status.Contains(evidence, StringComparison.Ordinal) || t.Outcome.Message.Contains(evidence, StringComparison.OrdinalIgnoreCase));
        Assert.True(r.Score > 0);
        Assert.True(r.Tests.Count(t => t.Passed) >= r.Tests.Count - 3);
    }

    [Fact]
    public void A_project_file_and_directory_build_targets_in_the_submission_are_never_built()
    {
        const string marker = "/tmp/kh-hostile-build-time-command-ran";
        File.Delete(marker);
        var r = Grade("build-time-command");
        Assert.False(File.Exists(marker), "a command from the submission's project files ran at build time");
        Assert.Equal(GradeStatus.Graded, r.Status);
        Assert.Equal(r.MaxScore, r.Score);
    }
}

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.RegularExpressions;
using Xunit;

namespace KernelHarness.Template.Tests;

/// <summary>
/// docs/instructor-guide.md, run as written: every <c>```sh</c> block, in order, in one shell, on a
/// machine that has only the packages (from the local feed, as from NuGet) — a fresh DOTNET_CLI_HOME
/// where the guide itself installs the template and the kh tool.
/// </summary>
[Collection(TemplateEnvironment.Collection)]
public sealed class InstructorGuideTests
{
    private readonly TemplateEnvironment env;

    public InstructorGuideTests(TemplateEnvironment env) => this.env = env;

    public static IReadOnlyList<string> ShellBlocks() =>
        Regex.Matches(File.ReadAllText(Repo.InstructorGuide).ReplaceLineEndings("\n"), @"^```sh\n(.*?)^```\n", RegexOptions.Multiline | RegexOptions.Singleline)
            .Select(m => m.Groups[1].Value).ToList();

    [Fact]
    public void The_guide_has_commands_for_every_step()
    {
        var all = string.Join("\n", ShellBlocks());
        foreach (var command in new[] { "dotnet new install KernelHarness.Templates", "dotnet tool install --global KernelHarness.Tool",
                     "dotnet new kh-student", "hidden/", "kh grade ", "kh grade-all ", "kh gradescope ", "git commit" })
            Assert.Contains(command, all);
    }

    [Fact]
    public void Every_command_of_the_guide_works_as_written()
    {
        var dir = Path.Combine(env.Work, "guide");
        Directory.CreateDirectory(dir);
        TemplateEnvironment.WriteNuGetConfig(dir, env.Feed);
        // What the guide asks the instructor to write by hand: the reference solution.
        Directory.CreateDirectory(Path.Combine(dir, "course", "irq", "solution"));
        File.Copy(Path.Combine(Repo.Examples, "irq", "solution", "Irq.cs"), Path.Combine(dir, "course", "irq", "solution", "Irq.cs"));

        var home = Path.Combine(dir, "home");
        var shell = env.Shell.With(new Dictionary<string, string?>
        {
            ["DOTNET_CLI_HOME"] = home,
            ["PATH"] = Path.Combine(home, ".dotnet", "tools") + ":" + Environment.GetEnvironmentVariable("PATH"),
            ["GIT_AUTHOR_NAME"] = "Instructor",
            ["GIT_AUTHOR_EMAIL"] = "instructor@example.edu",
            ["GIT_COMMITTER_NAME"] = "Instructor",
            ["GIT_COMMITTER_EMAIL"] = "instructor@example.edu",
            ["GIT_CONFIG_NOSYSTEM"] = "1",
            ["GIT_CONFIG_GLOBAL"] = "/dev/null",
        });
        var script = "set -euo pipefail\nset -x\n" + string.Join("\n", ShellBlocks());
        var r = shell.Bash(dir, script, TimeSpan.FromMinutes(10));
        Assert.True(r.Succeeded, r.ToString());

        double Score(string outDir, out double max)
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, outDir, "results.json")));
            max = doc.RootElement.GetProperty("tests").EnumerateArray().Sum(t => t.GetProperty("max_score").GetDouble());
            return doc.RootElement.GetProperty("score").GetDouble();
        }

        Assert.Equal(0, Score("out/starter", out _));
        var solution = Score("out/solution", out var max);
        Assert.True(max > 0);
        Assert.Equal(max, solution, 3);
        var results = File.ReadAllText(Path.Combine(dir, "out", "solution", "results.json"));
        Assert.Contains("hidden_second_exclusive_request_is_busy", results);   // the hidden test ran
        var csv = File.ReadAllLines(Path.Combine(dir, "out", "class", "class.csv"));
        Assert.Equal(3, csv.Length);
        Assert.True(File.Exists(Path.Combine(dir, "out", "class", "class.html")));
        Assert.True(new FileInfo(Path.Combine(dir, "autograder.zip")).Length > 0);
        Assert.True(Directory.Exists(Path.Combine(dir, "irq-starter", ".git")));
    }
}

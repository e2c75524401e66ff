using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.RegularExpressions;
using Xunit;
using YamlDotNet.RepresentationModel;

namespace KernelHarness.Template.Tests;

/// <summary>
/// One instantiated student project. Created once per assignment: <c>dotnet new kh-student</c>, then
/// every <c>run:</c> step of its own GitHub Actions workflow in order, as GitHub would run them
/// (GITHUB_ACTIONS=true, a step summary file): tool restore, build, test, kh grade.
/// </summary>
public sealed partial class StudentProject
{
    private StudentProject(TemplateEnvironment env, string assignment, string dir, Shell shell)
    {
        Env = env;
        Assignment = assignment;
        Dir = dir;
        Shell = shell;
    }

    public TemplateEnvironment Env { get; }
    public string Assignment { get; }
    public string Dir { get; }
    public Shell Shell { get; }

    /// <summary>The example assignment's reference solution folder (examples/assignments/NAME/solution).</summary>
    public string Solution => Path.Combine(Repo.Examples, Assignment, "solution");

    /// <summary>The file the student writes (the stub), named as the reference solution's file.</summary>
    public string StubFileName => Path.GetFileName(Directory.GetFiles(Solution, "*.cs").Single());

    public CommandResult Instantiate { get; private set; } = null!;

    /// <summary>The workflow's steps as run on the fresh project, by step name.</summary>
    public Dictionary<string, CommandResult> WorkflowSteps { get; } = new();

    public string FreshStub { get; private set; } = "";
    public string StepSummary { get; private set; } = "";
    public IReadOnlyList<TrxResult> FreshTests { get; private set; } = Array.Empty<TrxResult>();
    public JsonDocument FreshResults { get; private set; } = null!;

    public CommandResult Step(string name) =>
        WorkflowSteps.TryGetValue(name, out var r) ? r : throw new KeyNotFoundException($"workflow step '{name}' did not run; ran: {string.Join(", ", WorkflowSteps.Keys)}");

    public static StudentProject CreateFresh(TemplateEnvironment env, string assignment)
    {
        var dir = Path.Combine(env.Work, "projects", assignment);
        Directory.CreateDirectory(Path.GetDirectoryName(dir)!);
        var name = string.Concat(assignment.Split('-').Select(p => char.ToUpperInvariant(p[0]) + p[1..])) + "Lab";
        var summary = Path.Combine(env.Work, $"{assignment}-step-summary.md");
        var output = Path.Combine(env.Work, $"{assignment}-github-output.txt");
        File.WriteAllText(summary, "");
        File.WriteAllText(output, "");
        var shell = env.Shell.With(new Dictionary<string, string?>
        {
            ["GITHUB_ACTIONS"] = "true",
            ["GITHUB_WORKSPACE"] = dir,
            ["GITHUB_STEP_SUMMARY"] = summary,
            ["GITHUB_OUTPUT"] = output,
        });
        var p = new StudentProject(env, assignment, dir, shell);
        p.Instantiate = env.Shell.Dotnet(Path.GetDirectoryName(dir)!, $"new kh-student --assignment {assignment} -o {assignment} -n {name}");
        Assert.True(p.Instantiate.Succeeded, p.Instantiate.ToString());
        p.FreshStub = File.ReadAllText(Path.Combine(dir, p.StubFileName));

        foreach (var (stepName, run) in WorkflowRunSteps(Path.Combine(dir, ".github", "workflows", "grade.yml"), out _))
        {
            var r = shell.Bash(dir, run, TimeSpan.FromMinutes(8));
            p.WorkflowSteps[stepName] = r;
        }
        p.StepSummary = File.ReadAllText(summary);
        var trx = Path.Combine(dir, "kh-results", "tests", "tests.trx");
        if (File.Exists(trx))
            p.FreshTests = TrxResult.Read(trx);
        var results = Path.Combine(dir, "kh-results", "results.json");
        if (File.Exists(results))
            p.FreshResults = JsonDocument.Parse(File.ReadAllText(results));
        return p;
    }

    /// <summary>
    /// The workflow's steps that run here: every step with <c>run:</c> except conditional ones and
    /// machine setup (<c>sudo</c>), in order. <paramref name="all"/>: every step's name or <c>uses</c>.
    /// </summary>
    public static List<(string Name, string Run)> WorkflowRunSteps(string workflow, out List<string> all)
    {
        var yaml = new YamlStream();
        using (var reader = new StreamReader(workflow))
            yaml.Load(reader);
        var root = (YamlMappingNode)yaml.Documents[0].RootNode;
        var jobs = (YamlMappingNode)root.Children[new YamlScalarNode("jobs")];
        var job = (YamlMappingNode)jobs.Children.Single().Value;
        var steps = (YamlSequenceNode)job.Children[new YamlScalarNode("steps")];
        var result = new List<(string, string)>();
        all = new List<string>();
        foreach (YamlMappingNode step in steps)
        {
            string? Get(string key) => step.Children.TryGetValue(new YamlScalarNode(key), out var v) ? ((YamlScalarNode)v).Value : null;
            var run = Get("run");
            var name = Get("name") ?? Get("uses") ?? run ?? "?";
            all.Add(name);
            if (run is null || Get("if") is not null || run.TrimStart().StartsWith("sudo ", StringComparison.Ordinal))
                continue;
            result.Add((name, run));
        }
        return result;
    }

    // ---- later stages, on the same project (tests of one collection run one at a time) ----

    /// <summary>Replaces the student's file(s) with the .cs files of an example folder (a solution or a submission).</summary>
    public void UseSources(string folder)
    {
        var stub = Path.Combine(Dir, StubFileName);
        var files = Directory.GetFiles(folder, "*.cs");
        Assert.Contains(files, f => Path.GetFileName(f) == StubFileName);
        foreach (var f in files)
        {
            var to = Path.Combine(Dir, Path.GetFileName(f));
            File.Copy(f, to, overwrite: true);
            File.SetLastWriteTimeUtc(to, DateTime.UtcNow);   // File.Copy keeps the source's time: the build would skip it
        }
        Assert.True(File.Exists(stub));
    }

    /// <summary>Puts the project back as the template made it.</summary>
    public void Reset()
    {
        foreach (var f in Directory.GetFiles(Dir, "*.cs"))
        {
            var n = Path.GetFileName(f);
            if (n != StubFileName && n != "DriverConformance.cs")
                File.Delete(f);
        }
        File.WriteAllText(Path.Combine(Dir, StubFileName), FreshStub);
    }

    public CommandResult Build() => Env.Shell.Dotnet(Dir, "build");

    public (CommandResult Run, IReadOnlyList<TrxResult> Results) Test(string name)
    {
        var results = Path.Combine(Env.Work, "trx", Assignment);
        var r = Env.Shell.Dotnet(Dir, $"test --no-build --logger \"trx;LogFileName={name}.trx\" --results-directory \"{results}\"");
        var trx = Path.Combine(results, name + ".trx");
        Assert.True(File.Exists(trx), r.ToString());
        return (r, TrxResult.Read(trx));
    }

    public (CommandResult Run, JsonDocument Results) Grade(string name)
    {
        var outDir = Path.Combine(Env.Work, "grades", Assignment, name);
        var r = Env.Shell.Dotnet(Dir, $"kh grade . --assignment assignment --out \"{outDir}\"");
        Assert.True(r.Succeeded, r.ToString());
        return (r, JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "results.json"))));
    }

    /// <summary>Compiler and analyzer warnings in a build's output (<c>file(l,c): warning ID: …</c>).</summary>
    public static IReadOnlyList<string> Warnings(CommandResult build) =>
        build.Output.Split('\n').Where(l => WarningLine().IsMatch(l)).Distinct().ToList();

    [GeneratedRegex(@":\s*warning\s+[A-Za-z]+\d+\s*:")]
    private static partial Regex WarningLine();

    /// <summary>The visible tests of a results.json: name → output.</summary>
    public static Dictionary<string, JsonElement> VisibleTests(JsonDocument results) =>
        results.RootElement.GetProperty("tests").EnumerateArray()
            .Where(t => t.TryGetProperty("visibility", out var v) ? v.GetString() == "visible" : true)
            .ToDictionary(t => t.GetProperty("name").GetString()!, t => t);
}

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Threading.Tasks;

namespace KernelHarness.Template.Tests;

/// <summary>Paths in the repository.</summary>
public static class Repo
{
    public static string Root { get; } = FindRoot();

    public static string TemplateDir => Path.Combine(Root, "student-template", "templates", "kernelharness-student");

    public static string TemplateJson => Path.Combine(TemplateDir, ".template.config", "template.json");

    public static string Examples => Path.Combine(Root, "examples", "assignments");

    public static string InstructorGuide => Path.Combine(Root, "docs", "instructor-guide.md");

    /// <summary>The version every package carries (Directory.Build.props).</summary>
    public static string Version { get; } = System.Text.RegularExpressions.Regex
        .Match(File.ReadAllText(Path.Combine(FindRoot(), "Directory.Build.props")), "<Version>([^<]+)</Version>").Groups[1].Value;

    /// <summary>The template's assignment choices (template.json), e.g. slab, driver.</summary>
    public static IReadOnlyList<string> Assignments { get; } = ReadAssignments();

    public static IEnumerable<object[]> AssignmentData => Assignments.Select(a => new object[] { a });

    private static string FindRoot()
    {
        var dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "Harness.sln")))
            dir = Path.GetDirectoryName(dir.TrimEnd(Path.DirectorySeparatorChar));
        return dir ?? throw new InvalidOperationException("Harness.sln not found above " + AppContext.BaseDirectory);
    }

    private static IReadOnlyList<string> ReadAssignments()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TemplateJson));
        return doc.RootElement.GetProperty("symbols").GetProperty("assignment").GetProperty("choices")
            .EnumerateArray().Select(c => c.GetProperty("choice").GetString()!).ToList();
    }

    public static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from))
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)), overwrite: true);
        foreach (var dir in Directory.GetDirectories(from))
            CopyDirectory(dir, Path.Combine(to, Path.GetFileName(dir)));
    }
}

/// <summary>The result of one command.</summary>
public sealed record CommandResult(string Command, string WorkingDirectory, int ExitCode, string Output, TimeSpan Elapsed)
{
    public bool Succeeded => ExitCode == 0;

    public override string ToString() =>
        $"$ {Command}   (in {WorkingDirectory}, exit {ExitCode}, {Elapsed.TotalSeconds:F1} s)\n{Output}";
}

/// <summary>Runs dotnet and bash with a clean, isolated environment (no MSBuild or test-host variables of the parent).</summary>
public sealed class Shell
{
    private readonly Dictionary<string, string?> environment;

    public Shell(IDictionary<string, string?> environment) => this.environment = new Dictionary<string, string?>(environment);

    public List<(string Step, TimeSpan Elapsed)> Timings { get; } = new();

    public Shell With(IDictionary<string, string?> extra)
    {
        var env = new Dictionary<string, string?>(environment);
        foreach (var (k, v) in extra)
            env[k] = v;
        var shell = new Shell(env);
        return shell;
    }

    public CommandResult Dotnet(string workingDirectory, string arguments, TimeSpan? timeout = null) =>
        Run("dotnet", arguments, workingDirectory, timeout);

    public CommandResult Bash(string workingDirectory, string script, TimeSpan? timeout = null) =>
        Run("bash", "-c " + Quote(script), workingDirectory, timeout, display: script);

    private static string Quote(string s) => "\"" + s.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";

    public CommandResult Run(string file, string arguments, string workingDirectory, TimeSpan? timeout = null, string? display = null)
    {
        var psi = new ProcessStartInfo(file, arguments)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var key in psi.Environment.Keys.ToList())
        {
            if (key.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase)
                || key.StartsWith("VSTEST", StringComparison.OrdinalIgnoreCase)
                || key.StartsWith("TESTINGPLATFORM", StringComparison.OrdinalIgnoreCase)
                || key.StartsWith("GITHUB_", StringComparison.OrdinalIgnoreCase)
                || key.Equals("DOTNET_HOST_PATH", StringComparison.OrdinalIgnoreCase)
                || key.Equals("KH_SUBMISSION_DIR", StringComparison.Ordinal))
            {
                psi.Environment.Remove(key);
            }
        }
        foreach (var (k, v) in environment)
        {
            if (v is null)
                psi.Environment.Remove(k);
            else
                psi.Environment[k] = v;
        }

        var output = new StringBuilder();
        var gate = new object();
        var stopwatch = Stopwatch.StartNew();
        using var process = new Process { StartInfo = psi };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (gate) output.Append(e.Data).Append('\n'); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (gate) output.Append(e.Data).Append('\n'); };
        process.Start();
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var limit = timeout ?? TimeSpan.FromMinutes(5);
        if (!process.WaitForExit(limit))
        {
            try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            process.WaitForExit();
            lock (gate) output.Append($"\n[killed after {limit.TotalSeconds:F0} s]\n");
            return Record(new CommandResult(display ?? $"{file} {arguments}", workingDirectory, -1, output.ToString(), stopwatch.Elapsed));
        }
        process.WaitForExit();
        string text;
        lock (gate) text = output.ToString();
        return Record(new CommandResult(display ?? $"{file} {arguments}", workingDirectory, process.ExitCode, text, stopwatch.Elapsed));
    }

    private CommandResult Record(CommandResult r)
    {
        lock (Timings)
            Timings.Add((r.Command.Split('\n')[0], r.Elapsed));
        return r;
    }
}

/// <summary>One test result of a TRX file, with the conformance test id, seed and rendered failure when it failed.</summary>
public sealed record TrxResult(string Name, string Outcome, string Message)
{
    /// <summary>The conformance test id (<c>subsystem/group/name</c>) of a failure (its first line: <c>FAIL id</c>).</summary>
    public string? FailedId => Message.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.Contains("FAIL ", StringComparison.Ordinal)) is { } line
        ? line[(line.IndexOf("FAIL ", StringComparison.Ordinal) + 5)..].Trim()
        : null;

    public static IReadOnlyList<TrxResult> Read(string path)
    {
        var doc = System.Xml.Linq.XDocument.Load(path);
        System.Xml.Linq.XNamespace ns = "http://microsoft.com/schemas/VisualStudio/TeamTest/2010";
        return doc.Descendants(ns + "UnitTestResult").Select(r => new TrxResult(
            (string?)r.Attribute("testName") ?? "",
            (string?)r.Attribute("outcome") ?? "",
            (string?)r.Descendants(ns + "Message").FirstOrDefault() ?? "")).ToList();
    }
}

/// <summary>Reads a rendered conformance failure (ConformanceRunner's TestOutcome.Render) into its labelled lines.</summary>
public static class Failure
{
    public static string? Line(string rendered, string label) =>
        rendered.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith(label + ":", StringComparison.Ordinal)) is { } line
            ? line[(label.Length + 1)..].Trim()
            : null;
}

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Security;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using KernelHarness.Grader.Assignments;
using KernelHarness.Grader.Execution;

namespace KernelHarness.Grader.Build;

/// <summary>
/// The trusted overlay (as test161 and Pintos do it): the student's own project files, Directory.Build.*,
/// NuGet.config, .editorconfig and MSBuild targets are never built or read. Only the C# files the
/// assignment lists are copied into a project the grader writes, in a fresh folder guarded by its
/// own Directory.Build.props/targets, global.json-free, NuGet.config with no sources and a root
/// .editorconfig, built against the grader's own kernel assemblies with the analyzers on and the
/// compiler's SARIF 2.1 log (ErrorLog).
/// </summary>
public static partial class TrustedBuild
{
    public const string SubmissionAssemblyName = "Submission";
    public const string HiddenAssemblyName = "KernelHarness.HiddenTests";

    /// <summary>The path student sources have in PDBs and messages (PathMap): stable across runs and machines.</summary>
    public const string MappedSourceRoot = "/submission/";

    public static BuildResult BuildSubmission(string submissionDir, Assignment assignment, string workDir, Toolset toolset, TimeSpan timeout)
    {
        var notes = new List<string>();
        var sources = SourceSelection.Select(submissionDir, assignment.Sources, notes);
        if (sources.Count == 0)
        {
            return new BuildResult
            {
                Succeeded = false,
                Notes = notes,
                FailureReason = $"No C# source file of the submission matches the assignment's sources ({string.Join(", ", assignment.Sources)}).",
            };
        }
        var files = sources.Select(rel => (Path.Combine(submissionDir, rel), rel)).ToList();
        var result = Compile(workDir, SubmissionAssemblyName, files, toolset, timeout, analyzers: true, assignment, extraSource: null);
        return new BuildResult
        {
            Succeeded = result.Succeeded,
            AssemblyPath = result.AssemblyPath,
            SarifPath = result.SarifPath,
            OutputDirectory = result.OutputDirectory,
            Diagnostics = result.Diagnostics,
            Sources = sources,
            Notes = notes.Concat(result.Notes).ToList(),
            Log = result.Log,
            Duration = result.Duration,
            FailureReason = result.FailureReason,
        };
    }

    /// <summary>Compiles ASSIGNMENT/hidden/*.cs into an assembly marked [ContainsConformanceTests].</summary>
    public static BuildResult BuildHidden(Assignment assignment, string workDir, Toolset toolset, TimeSpan timeout)
    {
        var files = assignment.HiddenSources.Select(f => (f, Path.GetRelativePath(assignment.HiddenDirectory, f).Replace('\\', '/'))).ToList();
        bool marked = files.Any(f => File.ReadAllText(f.Item1).Contains("ContainsConformanceTests", StringComparison.Ordinal));
        var extra = marked ? null : "[assembly: global::KernelHarness.Conformance.ContainsConformanceTests]\n";
        return Compile(workDir, HiddenAssemblyName, files, toolset, timeout, analyzers: false, assignment, extra);
    }

    private static BuildResult Compile(string workDir, string assemblyName, List<(string Source, string Relative)> files, Toolset toolset,
        TimeSpan timeout, bool analyzers, Assignment assignment, string? extraSource)
    {
        var sw = Stopwatch.StartNew();
        Directory.CreateDirectory(workDir);
        var srcDir = Path.Combine(workDir, "src");
        Directory.CreateDirectory(srcDir);
        foreach (var (source, rel) in files)
        {
            var target = Path.GetFullPath(Path.Combine(srcDir, rel));
            if (!target.StartsWith(srcDir + "/", StringComparison.Ordinal))
                continue;
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(source, target, overwrite: true);
        }
        if (extraSource is not null)
            File.WriteAllText(Path.Combine(workDir, "GraderAssemblyInfo.g.cs"), extraSource);

        // Guards: nothing above this folder leaks into the build.
        File.WriteAllText(Path.Combine(workDir, "Directory.Build.props"), "<Project><PropertyGroup><ImportDirectoryPackagesProps>false</ImportDirectoryPackagesProps><ManagePackageVersionsCentrally>false</ManagePackageVersionsCentrally></PropertyGroup></Project>\n");
        File.WriteAllText(Path.Combine(workDir, "Directory.Build.targets"), "<Project />\n");
        File.WriteAllText(Path.Combine(workDir, "Directory.Packages.props"), "<Project />\n");
        File.WriteAllText(Path.Combine(workDir, "NuGet.config"),
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<configuration>\n  <packageSources>\n    <clear />\n  </packageSources>\n  <disabledPackageSources>\n    <clear />\n  </disabledPackageSources>\n</configuration>\n");
        File.WriteAllText(Path.Combine(workDir, ".editorconfig"), "root = true\n");
        File.WriteAllText(Path.Combine(workDir, "kh.globalconfig"), GlobalConfig(assignment, analyzers));

        var sarif = Path.Combine(workDir, "diagnostics.sarif");
        var outDir = Path.Combine(workDir, "out") + "/";
        var project = ProjectXml(assemblyName, toolset, analyzers, extraSource is not null);
        var projectPath = Path.Combine(workDir, assemblyName + ".csproj");
        File.WriteAllText(projectPath, project);

        var env = new Dictionary<string, string?>
        {
            ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
            ["DOTNET_NOLOGO"] = "1",
            ["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1",
            ["MSBUILDDISABLENODEREUSE"] = "1",
            ["NUGET_XMLDOC_MODE"] = "skip",
            // Properties from the environment are MSBuild global properties: drop any a CI job may carry.
            ["MSBuildExtensionsPath"] = null,
            ["CustomBeforeMicrosoftCommonProps"] = null,
            ["CustomAfterMicrosoftCommonTargets"] = null,
        };
        var run = ProcessRunner.Run(toolset.DotnetHost,
            new[] { "build", projectPath, "-c", "Release", "-nologo", "-v:q", "-nodeReuse:false", "-clp:NoSummary;ForceNoAlign" },
            workDir, timeout, env);

        var diagnostics = File.Exists(sarif) ? ReadSarif(sarif, srcDir) : new List<Finding>();
        if (diagnostics.All(d => d.Level != "error"))
            diagnostics.AddRange(ParseConsoleErrors(run.Output, srcDir));
        var assembly = Path.Combine(outDir, assemblyName + ".dll");
        bool ok = run.ExitCode == 0 && File.Exists(assembly);
        string? reason = null;
        if (run.TimedOut)
            reason = $"The build took longer than {timeout.TotalSeconds:0} s.";
        else if (!ok)
        {
            var errors = diagnostics.Where(d => d.Level == "error").Take(20).Select(d => $"{d.Location}: error {d.RuleId}: {d.Message}").ToList();
            reason = errors.Count > 0
                ? "The submission does not compile:\n" + string.Join("\n", errors)
                : "The build failed:\n" + Tail(run.Output, 30);
        }
        if (File.Exists(sarif))
            RewriteSarif(sarif, srcDir);
        return new BuildResult
        {
            Succeeded = ok,
            AssemblyPath = ok ? assembly : null,
            SarifPath = File.Exists(sarif) ? sarif : null,
            OutputDirectory = outDir,
            Diagnostics = diagnostics,
            Log = run.Output,
            Duration = sw.Elapsed,
            FailureReason = reason,
        };
    }

    private static string ProjectXml(string assemblyName, Toolset toolset, bool analyzers, bool extraSource)
    {
        static string X(string s) => SecurityElement.Escape(s);
        var sb = new StringBuilder();
        sb.Append("<Project Sdk=\"Microsoft.NET.Sdk\">\n  <PropertyGroup>\n");
        void P(string name, string value) => sb.Append("    <").Append(name).Append('>').Append(X(value)).Append("</").Append(name).Append(">\n");
        P("TargetFramework", "net10.0");
        P("OutputType", "Library");
        P("AssemblyName", assemblyName);
        P("RootNamespace", assemblyName);
        P("LangVersion", "latest");
        P("Nullable", "enable");
        P("ImplicitUsings", "enable");
        P("AllowUnsafeBlocks", "false");
        P("Deterministic", "true");
        P("DebugType", "portable");
        P("PathMap", "$(MSBuildProjectDirectory)/src/=" + MappedSourceRoot);
        P("GenerateAssemblyInfo", "false");
        P("GenerateDocumentationFile", "false");
        P("GenerateDependencyFile", "false");
        P("ProduceReferenceAssembly", "false");
        P("UseAppHost", "false");
        P("EnableDefaultItems", "false");
        P("TreatWarningsAsErrors", "false");
        P("WarningsAsErrors", "");
        P("EnableNETAnalyzers", "false");
        P("RunAnalyzers", analyzers ? "true" : "false");
        P("SatelliteResourceLanguages", "en");
        P("ErrorLog", "$(MSBuildProjectDirectory)/diagnostics.sarif,version=2.1");
        P("OutDir", "$(MSBuildProjectDirectory)/out/");
        P("IntermediateOutputPath", "$(MSBuildProjectDirectory)/obj/");
        P("NoWarn", "CS1591;CS8981");
        sb.Append("  </PropertyGroup>\n  <ItemGroup>\n");
        sb.Append("    <Compile Include=\"src/**/*.cs\" />\n");
        if (extraSource)
            sb.Append("    <Compile Include=\"GraderAssemblyInfo.g.cs\" />\n");
        sb.Append("    <Reference Include=\"KernelHarness\"><HintPath>").Append(X(toolset.KernelHarnessDll)).Append("</HintPath><Private>true</Private></Reference>\n");
        sb.Append("    <Reference Include=\"KernelHarness.Conformance\"><HintPath>").Append(X(toolset.ConformanceDll)).Append("</HintPath><Private>true</Private></Reference>\n");
        if (analyzers)
        {
            foreach (var dll in toolset.AnalyzerDlls)
                sb.Append("    <Analyzer Include=\"").Append(X(dll)).Append("\" />\n");
            sb.Append("    <GlobalAnalyzerConfigFiles Include=\"kh.globalconfig\" />\n");
        }
        sb.Append("  </ItemGroup>\n</Project>\n");
        return sb.ToString();
    }

    /// <summary>
    /// Severities for the compiler: an assignment's rules are reported but never break the build
    /// (penalties are the assignment's way to count them), except severity <c>none</c> which silences a rule.
    /// </summary>
    private static readonly string[] KnownRuleIds =
    {
        "KH1001", "KH1002", "KH1003", "KH1004", "KH2001", "KH2002", "KH2003", "KH2004",
        "KH3001", "KH3002", "KH3003", "KH3004", "KH4001", "KH4002", "KH4003", "KH4004",
        "KH5001", "KH5002", "KH6001", "KH6002", "KH9001",
    };

    private static string GlobalConfig(Assignment assignment, bool analyzers)
    {
        var sb = new StringBuilder("is_global = true\nglobal_level = 100\n");
        if (analyzers)
        {
            // Every KH rule reports as a warning in the trusted build: a finding costs the penalty the
            // assignment sets (or nothing), and KH9001's list is enforced by the IL check, which lists
            // every forbidden use instead of stopping at a build error.
            var severities = new SortedDictionary<string, string>(StringComparer.Ordinal);
            foreach (var id in KnownRuleIds)
                severities[id] = "warning";
            foreach (var rule in assignment.AnalyzerRules)
                severities[rule.Id] = rule.Severity == "none" ? "none" : "warning";
            foreach (var (id, severity) in severities)
                sb.Append("dotnet_diagnostic.").Append(id).Append(".severity = ").Append(severity).Append('\n');
        }
        return sb.ToString();
    }

    internal static List<Finding> ReadSarif(string path, string srcDir)
    {
        var list = new List<Finding>();
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(path));
        }
        catch (System.Text.Json.JsonException)
        {
            return list;
        }
        foreach (var run in root?["runs"]?.AsArray() ?? new JsonArray())
        {
            foreach (var r in run?["results"]?.AsArray() ?? new JsonArray())
            {
                if (r is null)
                    continue;
                if (r["suppressions"] is JsonArray { Count: > 0 })
                    continue;
                var id = r["ruleId"]?.GetValue<string>() ?? "";
                var level = r["level"]?.GetValue<string>() ?? "warning";
                var message = r["message"]?["text"]?.GetValue<string>() ?? "";
                var loc = r["locations"]?.AsArray().FirstOrDefault()?["physicalLocation"];
                var uri = loc?["artifactLocation"]?["uri"]?.GetValue<string>();
                int line = loc?["region"]?["startLine"]?.GetValue<int>() ?? 0;
                int col = loc?["region"]?["startColumn"]?.GetValue<int>() ?? 0;
                list.Add(new Finding(id, level, message, uri is null ? null : RelativeSource(uri, srcDir), line, col));
            }
        }
        return list.OrderBy(f => f.File ?? "~", StringComparer.Ordinal).ThenBy(f => f.Line).ThenBy(f => f.Column).ThenBy(f => f.RuleId, StringComparer.Ordinal).ToList();
    }

    private static string RelativeSource(string uri, string srcDir)
    {
        var path = uri.StartsWith("file://", StringComparison.Ordinal) ? Uri.UnescapeDataString(new Uri(uri).AbsolutePath) : uri;
        foreach (var root in new[] { srcDir.TrimEnd('/') + "/", MappedSourceRoot })
        {
            if (path.StartsWith(root, StringComparison.Ordinal))
                return path[root.Length..];
        }
        return path;
    }

    /// <summary>Makes the SARIF's artifact URIs relative to the submission (for code scanning and for reproducible output).</summary>
    private static void RewriteSarif(string path, string srcDir)
    {
        var text = File.ReadAllText(path);
        var prefix = new Uri(srcDir.TrimEnd('/') + "/").AbsoluteUri;
        text = text.Replace(prefix, "", StringComparison.Ordinal).Replace("file://" + MappedSourceRoot, "", StringComparison.Ordinal);
        File.WriteAllText(path, text);
    }

    private static IEnumerable<Finding> ParseConsoleErrors(string output, string srcDir)
    {
        foreach (Match m in ConsoleError().Matches(output))
        {
            var file = m.Groups["file"].Value;
            yield return new Finding(m.Groups["id"].Value, "error", m.Groups["msg"].Value.Trim(),
                file.Length == 0 ? null : RelativeSource(file, srcDir),
                int.TryParse(m.Groups["line"].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var l) ? l : 0, 0);
        }
    }

    [GeneratedRegex(@"^(?:(?<file>[^\r\n(]+?)(?:\((?<line>\d+),\d+\))?\s*:\s*)?error (?<id>[A-Z]+\d+)\s*:\s*(?<msg>[^\r\n\[]*)", RegexOptions.Multiline)]
    private static partial Regex ConsoleError();

    internal static string Tail(string text, int lines) =>
        string.Join("\n", text.Split('\n', StringSplitOptions.RemoveEmptyEntries).TakeLast(lines));
}

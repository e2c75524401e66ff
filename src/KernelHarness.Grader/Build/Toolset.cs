using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using KernelHarness.Conformance;
using KernelHarness.Grader.Runner;

namespace KernelHarness.Grader.Build;

/// <summary>
/// The grader's own installation: the kernel and conformance assemblies submissions are built
/// against, the child runner, the analyzer and generator DLLs, and the dotnet host. Never taken
/// from a submission.
/// </summary>
public sealed class Toolset
{
    public required string KernelHarnessDll { get; init; }
    public required string ConformanceDll { get; init; }
    public required string RunnerDll { get; init; }
    public required IReadOnlyList<string> AnalyzerDlls { get; init; }
    public required string DotnetHost { get; init; }
    public required string DotnetRoot { get; init; }

    private static readonly Lazy<Toolset> Instance = new(Create);

    public static Toolset Current => Instance.Value;

    private static Toolset Create()
    {
        var runtimeDir = RuntimeEnvironment.GetRuntimeDirectory().TrimEnd('/');
        // <root>/shared/Microsoft.NETCore.App/<version>
        var root = Path.GetFullPath(Path.Combine(runtimeDir, "..", "..", ".."));
        var host = Path.Combine(root, "dotnet");
        if (!File.Exists(host))
            host = "dotnet";
        return new Toolset
        {
            KernelHarnessDll = typeof(KernelHarness.Kernel).Assembly.Location,
            ConformanceDll = typeof(ConformanceRunner).Assembly.Location,
            RunnerDll = typeof(RunnerProgram).Assembly.Location,
            AnalyzerDlls = FindAnalyzers(),
            DotnetHost = host,
            DotnetRoot = root,
        };
    }

    /// <summary>
    /// The analyzers/ folder next to the grader (kh copies the analyzer and generator DLLs there), or,
    /// running from a repository build, the analyzer and generator projects' own outputs.
    /// </summary>
    private static IReadOnlyList<string> FindAnalyzers()
    {
        var beside = Path.Combine(AppContext.BaseDirectory, "analyzers");
        if (Directory.Exists(beside))
        {
            var dlls = Directory.GetFiles(beside, "KernelHarness.*.dll").OrderBy(f => f, StringComparer.Ordinal).ToList();
            if (dlls.Count > 0)
                return dlls;
        }
        var dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "Harness.sln")))
            dir = Path.GetDirectoryName(dir.TrimEnd('/'));
        if (dir is null)
            return Array.Empty<string>();
        var found = new List<string>();
        foreach (var (folder, name) in new[]
                 {
                     ("generators/KernelHarness.Generators", "KernelHarness.Generators.dll"),
                     ("analyzers/KernelHarness.Analyzers", "KernelHarness.Analyzers.dll"),
                 })
        {
            var bin = Path.Combine(dir, folder, "bin");
            if (!Directory.Exists(bin))
                continue;
            var newest = Directory.GetFiles(bin, name, SearchOption.AllDirectories)
                .Where(f => f.Contains("netstandard2.0", StringComparison.Ordinal))
                .OrderByDescending(File.GetLastWriteTimeUtc).FirstOrDefault();
            if (newest is not null)
                found.Add(newest);
        }
        return found;
    }
}

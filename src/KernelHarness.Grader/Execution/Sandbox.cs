using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;

namespace KernelHarness.Grader.Execution;

/// <summary>
/// How the child is confined (docs/grader.md, threat model). Always: a fresh process with a cleared
/// environment, a GC heap hard limit, no core dumps and a CPU-time cap (prlimit), an empty scratch
/// working folder. Where bubblewrap works: no network, a private filesystem view with only the
/// runtime and the run folder (student assembly, kernel assemblies, runner) visible, read-only.
/// </summary>
public static class Sandbox
{
    private static readonly Lazy<string?> BwrapPath = new(() => Probe("bwrap", "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent", "true"));
    private static readonly Lazy<string?> PrlimitPath = new(() => Probe("prlimit", "--core=0", "true"));

    /// <summary>Whether the filesystem/network sandbox is used (bwrap present and permitted); KH_NO_BWRAP=1 turns it off.</summary>
    public static bool BwrapAvailable => System.Environment.GetEnvironmentVariable("KH_NO_BWRAP") != "1" && BwrapPath.Value is not null;

    public static string Describe() =>
        BwrapAvailable ? "bubblewrap (no network, private read-only filesystem view), prlimit, GC heap limit"
        : PrlimitPath.Value is not null ? "prlimit and GC heap limit (bubblewrap not available: no filesystem/network isolation beyond the IL check)"
        : "GC heap limit only (neither bubblewrap nor prlimit available)";

    /// <summary>The command line (file, args) that runs <paramref name="command"/> confined.</summary>
    public static (string File, List<string> Args) Wrap(IReadOnlyList<string> command, string runDir, string dotnetRoot, int cpuSeconds)
    {
        var args = new List<string>();
        string file;
        var inner = new List<string>();
        if (BwrapAvailable)
        {
            inner.Add(BwrapPath.Value!);
            inner.AddRange(new[] { "--unshare-all", "--die-with-parent", "--new-session" });
            foreach (var dir in new[] { "/usr", "/lib", "/lib64", "/bin", "/etc/ld.so.cache", "/etc/alternatives" })
            {
                if (Path.Exists(dir))
                    inner.AddRange(new[] { "--ro-bind", dir, dir });
            }
            inner.AddRange(new[] { "--tmpfs", "/tmp", "--proc", "/proc", "--dev", "/dev" });
            if (!dotnetRoot.StartsWith("/usr/", StringComparison.Ordinal))
                inner.AddRange(new[] { "--ro-bind", dotnetRoot, dotnetRoot });
            inner.AddRange(new[] { "--ro-bind", runDir, runDir, "--chdir", "/tmp", "--" });
        }
        inner.AddRange(command);
        if (PrlimitPath.Value is not null)
        {
            file = PrlimitPath.Value;
            args.Add("--core=0");
            args.Add("--cpu=" + cpuSeconds.ToString(CultureInfo.InvariantCulture));
            args.Add("--");
            args.AddRange(inner);
        }
        else
        {
            file = inner[0];
            args.AddRange(inner.Skip(1));
        }
        return (file, args);
    }

    /// <summary>The child's whole environment: nothing of the grader's leaks (tokens, CI secrets).</summary>
    public static Dictionary<string, string> Environment(string dotnetRoot, int memoryMb)
    {
        long heap = Math.Max(128L, memoryMb * 6L / 10) * 1024 * 1024;
        return new Dictionary<string, string>
        {
            ["PATH"] = "/usr/bin:/bin",
            ["HOME"] = "/tmp",
            ["TMPDIR"] = "/tmp",
            ["DOTNET_ROOT"] = dotnetRoot,
            ["DOTNET_GCHeapHardLimit"] = "0x" + heap.ToString("x", CultureInfo.InvariantCulture),
            ["DOTNET_gcServer"] = "0",
            ["DOTNET_GCgen0size"] = "0x4000000",
            ["DOTNET_EnableDiagnostics"] = "0",
            ["DOTNET_DbgEnableMiniDump"] = "0",
            ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
            ["DOTNET_TieredPGO"] = "0",
            ["DOTNET_SYSTEM_GLOBALIZATION_INVARIANT"] = "1",
        };
    }

    private static string? Probe(string name, params string[] args)
    {
        var path = new[] { "/usr/bin", "/bin", "/usr/local/bin" }.Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);
        if (path is null)
            return null;
        try
        {
            var r = ProcessRunner.Run(path, args, "/", TimeSpan.FromSeconds(10));
            return r.ExitCode == 0 ? path : null;
        }
        catch (Exception)
        {
            return null;
        }
    }
}

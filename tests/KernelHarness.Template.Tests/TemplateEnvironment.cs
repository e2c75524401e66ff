using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using Xunit;

namespace KernelHarness.Template.Tests;

/// <summary>
/// The packages under test and an isolated machine state to use them in, as a course would:
/// a local folder feed (artifacts/feed from .ci/run, or one packed here when it is missing or older
/// than the sources), a nuget.config listing it with the normal sources, a fresh NuGet package
/// folder (no stale package of an earlier run is ever used), and a fresh DOTNET_CLI_HOME where
/// the template is installed (the user's machine is not modified).
/// </summary>
public sealed class TemplateEnvironment : IDisposable
{
    public const string Collection = "template e2e";

    private readonly ConcurrentDictionary<string, Lazy<StudentProject>> projects = new();
    private readonly DateTime started = DateTime.UtcNow;

    public TemplateEnvironment()
    {
        Work = Path.Combine(Path.GetTempPath(), "kh-template-e2e-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(Work);
        var env = new Dictionary<string, string?>
        {
            ["DOTNET_CLI_HOME"] = Path.Combine(Work, "home"),
            ["NUGET_PACKAGES"] = Path.Combine(Work, "nuget-packages"),
            ["DOTNET_NOLOGO"] = "1",
            ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
            ["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1",
            ["DOTNET_GENERATE_ASPNET_CERTIFICATE"] = "false",
            ["DOTNET_CLI_WORKLOAD_UPDATE_NOTIFY_DISABLE"] = "true",
            ["MSBUILDDISABLENODEREUSE"] = "1",
            ["DOTNET_CLI_USE_MSBUILD_SERVER"] = "0",
            ["CI"] = "true",
            ["GITHUB_ACTIONS"] = null,
        };
        Shell = new Shell(env);
        Feed = PackageFeed.Resolve(Shell, Work, out var how);
        FeedOrigin = how;
        WriteNuGetConfig(Work, Feed);

        var install = Shell.Dotnet(Work, $"new install KernelHarness.Templates::{Repo.Version}");
        Assert.True(install.Succeeded, install.ToString());
        Assert.Contains("kh-student", install.Output);
    }

    /// <summary>Everything of this run: the nuget.config, the package folder, the CLI home, the projects.</summary>
    public string Work { get; }

    /// <summary>The folder feed holding KernelHarness, KernelHarness.Tool and KernelHarness.Templates.</summary>
    public string Feed { get; }

    public string FeedOrigin { get; }

    public Shell Shell { get; }

    /// <summary>A nuget.config with the local feed first, then the offline mirror and nuget.org.</summary>
    public static void WriteNuGetConfig(string dir, string feed)
    {
        var sb = new StringBuilder();
        sb.Append("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<configuration>\n  <packageSources>\n    <clear />\n");
        sb.Append($"    <add key=\"kernelharness-local\" value=\"{feed}\" />\n");
        if (Directory.Exists("/opt/nuget/packages"))
            sb.Append("    <add key=\"offline\" value=\"/opt/nuget/packages\" />\n");
        sb.Append("    <add key=\"nuget.org\" value=\"https://api.nuget.org/v3/index.json\" protocolVersion=\"3\" />\n");
        sb.Append("  </packageSources>\n</configuration>\n");
        File.WriteAllText(Path.Combine(dir, "nuget.config"), sb.ToString());
    }

    /// <summary>The student project of an assignment, created and run through its workflow once (fresh, stubs only).</summary>
    public StudentProject Project(string assignment) =>
        projects.GetOrAdd(assignment, a => new Lazy<StudentProject>(() => StudentProject.CreateFresh(this, a))).Value;

    public void Dispose()
    {
        try
        {
            var lines = new List<string>
            {
                $"template e2e flow: {(DateTime.UtcNow - started).TotalSeconds:F0} s in all (packages: {FeedOrigin})",
            };
            lock (Shell.Timings)
                lines.AddRange(Shell.Timings.Select(t => $"{t.Elapsed.TotalSeconds,7:F1} s  {t.Step}"));
            foreach (var p in projects.Values.Where(l => l.IsValueCreated))
                lock (p.Value.Shell.Timings)
                    lines.AddRange(p.Value.Shell.Timings.Select(t => $"{t.Elapsed.TotalSeconds,7:F1} s  [{p.Value.Assignment}] {t.Step}"));
            var dir = Path.Combine(Repo.Root, "artifacts");
            Directory.CreateDirectory(dir);
            File.WriteAllLines(Path.Combine(dir, "template-e2e-timings.txt"), lines);
        }
        catch (IOException)
        {
        }

        if (Environment.GetEnvironmentVariable("KH_KEEP_E2E") != "1")
        {
            try { Directory.Delete(Work, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}

[CollectionDefinition(TemplateEnvironment.Collection)]
public sealed class TemplateCollection : ICollectionFixture<TemplateEnvironment>
{
}

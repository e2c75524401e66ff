using System;
using System.IO;
using System.Linq;
using Xunit;

namespace KernelHarness.Template.Tests;

/// <summary>Finds or makes the local folder feed with the three packages a course consumes.</summary>
public static class PackageFeed
{
    public static readonly string[] PackageIds = { "KernelHarness", "KernelHarness.Tool", "KernelHarness.Templates" };

    /// <summary>The projects packed, in the order .ci/run packs them.</summary>
    public static readonly string[] PackedProjects = { "src/KernelHarness.Package", "src/kh", "student-template" };

    /// <summary>
    /// KH_PACKAGE_FEED when set; else artifacts/feed when it holds every package and none is older than
    /// the sources they are built from; else a feed packed now under <paramref name="work"/>.
    /// </summary>
    public static string Resolve(Shell shell, string work, out string how)
    {
        var explicitFeed = Environment.GetEnvironmentVariable("KH_PACKAGE_FEED");
        if (!string.IsNullOrEmpty(explicitFeed))
        {
            how = "KH_PACKAGE_FEED=" + explicitFeed;
            AssertComplete(explicitFeed);
            return Path.GetFullPath(explicitFeed);
        }

        var artifacts = Path.Combine(Repo.Root, "artifacts", "feed");
        if (IsComplete(artifacts) && !IsStale(artifacts))
        {
            how = "artifacts/feed";
            return artifacts;
        }

        var feed = Path.Combine(work, "feed");
        Directory.CreateDirectory(feed);
        foreach (var project in PackedProjects)
        {
            // Release: its outputs are not the ones the rest of the test run builds and loads (Debug).
            var r = shell.Dotnet(Repo.Root, $"pack {project} -c Release -o \"{feed}\" -p:ContinuousIntegrationBuild=true", TimeSpan.FromMinutes(10));
            Assert.True(r.Succeeded, r.ToString());
        }
        how = "packed by the test fixture (artifacts/feed " + (IsComplete(artifacts) ? "was older than the sources" : "was missing") + ")";
        AssertComplete(feed);
        return feed;
    }

    public static string PackagePath(string feed, string id) => Path.Combine(feed, $"{id}.{Repo.Version}.nupkg");

    private static bool IsComplete(string feed) => PackageIds.All(id => File.Exists(PackagePath(feed, id)));

    private static void AssertComplete(string feed)
    {
        foreach (var id in PackageIds)
            Assert.True(File.Exists(PackagePath(feed, id)), $"{PackagePath(feed, id)} is missing");
    }

    /// <summary>True when a source file the packages are built from is newer than the oldest package.</summary>
    private static bool IsStale(string feed)
    {
        var oldest = PackageIds.Min(id => File.GetLastWriteTimeUtc(PackagePath(feed, id)));
        foreach (var root in new[] { "src", "analyzers", "generators", "student-template" })
        {
            var dir = Path.Combine(Repo.Root, root);
            if (!Directory.Exists(dir))
                continue;
            foreach (var file in Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories))
            {
                var rel = Path.GetRelativePath(Repo.Root, file).Replace('\\', '/');
                if (rel.Contains("/bin/", StringComparison.Ordinal) || rel.Contains("/obj/", StringComparison.Ordinal))
                    continue;
                if (File.GetLastWriteTimeUtc(file) > oldest)
                    return true;
            }
        }
        foreach (var file in new[] { "Directory.Build.props", "Directory.Packages.props" })
        {
            if (File.GetLastWriteTimeUtc(Path.Combine(Repo.Root, file)) > oldest)
                return true;
        }
        return false;
    }
}

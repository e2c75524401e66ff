using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Xml.Linq;
using Xunit;

namespace KernelHarness.Template.Tests;

/// <summary>What the three packages hold and say about themselves.</summary>
[Collection(TemplateEnvironment.Collection)]
public sealed class PackageTests
{
    private readonly TemplateEnvironment env;

    public PackageTests(TemplateEnvironment env) => this.env = env;

    private (string[] Entries, XElement Metadata) Open(string id)
    {
        using var zip = ZipFile.OpenRead(PackageFeed.PackagePath(env.Feed, id));
        var entries = zip.Entries.Select(e => e.FullName).ToArray();
        using var nuspec = zip.Entries.Single(e => e.FullName == id + ".nuspec").Open();
        var doc = XDocument.Load(nuspec);
        return (entries, doc.Root!.Elements().Single(e => e.Name.LocalName == "metadata"));
    }

    private static string? Meta(XElement metadata, string name) => metadata.Elements().FirstOrDefault(e => e.Name.LocalName == name)?.Value;

    [Theory]
    [InlineData("KernelHarness")]
    [InlineData("KernelHarness.Tool")]
    [InlineData("KernelHarness.Templates")]
    public void Every_package_has_version_description_license_readme_and_repository(string id)
    {
        var (entries, metadata) = Open(id);
        Assert.Equal(Repo.Version, Meta(metadata, "version"));
        Assert.False(string.IsNullOrWhiteSpace(Meta(metadata, "description")));
        Assert.Equal("MIT", Meta(metadata, "license"));
        Assert.Equal("README.md", Meta(metadata, "readme"));
        Assert.Contains("README.md", entries);
        var repository = metadata.Elements().Single(e => e.Name.LocalName == "repository");
        Assert.Equal("https://github.com/kernelharness/kernelharness", (string?)repository.Attribute("url"));
    }

    [Fact]
    public void The_library_package_holds_the_runtime_and_the_analyzers_codefixes_and_generator()
    {
        var (entries, metadata) = Open("KernelHarness");
        Assert.Contains("lib/net10.0/KernelHarness.dll", entries);
        Assert.Contains("lib/net10.0/KernelHarness.Conformance.dll", entries);
        Assert.Contains("lib/net10.0/KernelHarness.xml", entries);
        Assert.Contains("analyzers/dotnet/cs/KernelHarness.Analyzers.dll", entries);
        Assert.Contains("analyzers/dotnet/cs/KernelHarness.Analyzers.CodeFixes.dll", entries);
        Assert.Contains("analyzers/dotnet/cs/KernelHarness.Generators.dll", entries);
        // No dependency on another package of the repository (everything is inside).
        Assert.DoesNotContain(metadata.Descendants().Where(e => e.Name.LocalName == "dependency"), d => ((string?)d.Attribute("id"))!.StartsWith("KernelHarness"));
    }

    [Fact]
    public void The_tool_package_is_kh_with_the_grader_runner_and_analyzers()
    {
        var (entries, _) = Open("KernelHarness.Tool");
        Assert.Contains(entries, e => e.EndsWith("/DotnetToolSettings.xml"));
        Assert.Contains("tools/net10.0/any/kh.dll", entries);
        Assert.Contains("tools/net10.0/any/KernelHarness.Grader.Runner.dll", entries);
        Assert.Contains("tools/net10.0/any/KernelHarness.Grader.Runner.runtimeconfig.json", entries);
        Assert.Contains("tools/net10.0/any/analyzers/KernelHarness.Analyzers.dll", entries);
        Assert.Contains("tools/net10.0/any/analyzers/KernelHarness.Generators.dll", entries);
    }

    [Fact]
    public void The_template_package_is_a_template_package()
    {
        var (entries, metadata) = Open("KernelHarness.Templates");
        Assert.Contains("content/templates/kernelharness-student/.template.config/template.json", entries);
        Assert.Contains("content/templates/kernelharness-student/.github/workflows/grade.yml", entries);
        Assert.Contains("content/templates/kernelharness-student/.config/dotnet-tools.json", entries);
        Assert.DoesNotContain(entries, e => e.Contains("/bin/") || e.Contains("/obj/"));
        var types = metadata.Descendants().Where(e => e.Name.LocalName == "packageType").Select(e => (string?)e.Attribute("name"));
        Assert.Contains("Template", types);
    }
}

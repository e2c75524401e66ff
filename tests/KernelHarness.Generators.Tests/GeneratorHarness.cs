using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Text;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Xunit;

namespace KernelHarness.Generators.Tests;

/// <summary>
/// The one place the tests build compilations, run the generator and compare golden files.
/// References come from the running runtime (no downloads); the annotation attributes are compiled
/// from their sources in the repository.
/// </summary>
internal static class GeneratorHarness
{
    public static readonly CSharpParseOptions ParseOptions =
        new(LanguageVersion.Latest, DocumentationMode.Diagnose);

    private static readonly Lazy<string> repoRoot = new(FindRepoRoot);
    private static readonly Lazy<ImmutableArray<MetadataReference>> frameworkReferences = new(LoadFrameworkReferences);

    /// <summary>The repository root: the folder holding Harness.sln.</summary>
    public static string RepoRoot => repoRoot.Value;

    public static string BaselinesDirectory => Path.Combine(ProjectDirectory, "Baselines");

    private static string ProjectDirectory =>
        Metadata("ProjectDirectory") is { Length: > 0 } dir && Directory.Exists(dir)
            ? dir
            : Path.Combine(RepoRoot, "tests", "KernelHarness.Generators.Tests");

    /// <summary>Baselines are rewritten, not compared, with KH_UPDATE_BASELINES=1 or /p:UpdateBaselines=true.</summary>
    public static bool UpdateBaselines =>
        Environment.GetEnvironmentVariable("KH_UPDATE_BASELINES") is "1" or "true"
        || string.Equals(Metadata("UpdateBaselines"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>The text of src/KernelHarness/Annotations/*.cs, the attribute vocabulary of the description.</summary>
    public static IReadOnlyList<(string Path, string Text)> AnnotationSources()
    {
        var dir = Path.Combine(RepoRoot, "src", "KernelHarness", "Annotations");
        return Directory.GetFiles(dir, "*.cs")
            .OrderBy(p => p, StringComparer.Ordinal)
            .Select(p => ("Annotations/" + Path.GetFileName(p), File.ReadAllText(p)))
            .ToList();
    }

    /// <summary>The runtime's own framework assemblies (the trusted platform assemblies in its directory).</summary>
    public static ImmutableArray<MetadataReference> FrameworkReferences => frameworkReferences.Value;

    public static SyntaxTree Parse(string path, string text) =>
        CSharpSyntaxTree.ParseText(text, ParseOptions, path, Encoding.UTF8);

    public static CSharpCompilation CreateCompilation(
        string assemblyName,
        IEnumerable<(string Path, string Text)> sources,
        IEnumerable<MetadataReference>? references = null) =>
        CSharpCompilation.Create(
            assemblyName,
            sources.Select(s => Parse(s.Path, s.Text)),
            FrameworkReferences.AddRange(references ?? Array.Empty<MetadataReference>()),
            new CSharpCompilationOptions(
                OutputKind.DynamicallyLinkedLibrary,
                nullableContextOptions: NullableContextOptions.Enable,
                deterministic: true));

    /// <summary>A driver for the generator that records every tracked step.</summary>
    public static GeneratorDriver CreateDriver() =>
        CSharpGeneratorDriver.Create(
            new[] { new KernelGenerator().AsSourceGenerator() },
            parseOptions: ParseOptions,
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));

    /// <summary>Runs the generator once; returns the driver (for a later run), the result and the compilation with the output.</summary>
    public static (GeneratorDriver Driver, GeneratorRunResult Result, Compilation Output) Run(Compilation compilation, GeneratorDriver? driver = null)
    {
        driver = (driver ?? CreateDriver()).RunGeneratorsAndUpdateCompilation(compilation, out var output, out var diagnostics);
        Assert.Empty(diagnostics);
        var result = driver.GetRunResult().Results.Single();
        Assert.Null(result.Exception);
        return (driver, result, output);
    }

    /// <summary>Errors, and warnings other than missing XML docs, in a compilation.</summary>
    public static string DescribeProblems(Compilation compilation)
    {
        var problems = compilation.GetDiagnostics()
            .Where(d => d.Severity == DiagnosticSeverity.Error || (d.Severity == DiagnosticSeverity.Warning && d.Id != "CS1591"))
            .ToList();
        if (problems.Count == 0)
        {
            return string.Empty;
        }

        var text = new StringBuilder();
        foreach (var problem in problems)
        {
            text.AppendLine(problem.ToString());
            var tree = problem.Location.SourceTree;
            if (tree is not null)
            {
                var line = problem.Location.GetLineSpan().StartLinePosition.Line;
                text.AppendLine("    > " + tree.GetText().Lines[line].ToString().Trim());
            }
        }

        return text.ToString();
    }

    /// <summary>
    /// Compares the generated files with Baselines/<paramref name="scenario"/>/, or rewrites them when
    /// updating. On a mismatch, fails with a diff of every differing file.
    /// </summary>
    public static void VerifyBaselines(string scenario, GeneratorRunResult result)
    {
        var directory = Path.Combine(BaselinesDirectory, scenario);
        var actual = result.GeneratedSources
            .OrderBy(s => s.HintName, StringComparer.Ordinal)
            .ToDictionary(s => s.HintName, s => Normalize(s.SourceText.ToString()), StringComparer.Ordinal);

        if (UpdateBaselines)
        {
            Directory.CreateDirectory(directory);
            foreach (var stale in Directory.GetFiles(directory, "*.cs"))
            {
                File.Delete(stale);
            }

            foreach (var (hint, text) in actual)
            {
                File.WriteAllText(Path.Combine(directory, hint), text, new UTF8Encoding(false));
            }

            return;
        }

        var expected = Directory.Exists(directory)
            ? Directory.GetFiles(directory, "*.cs").ToDictionary(p => Path.GetFileName(p)!, p => Normalize(File.ReadAllText(p)), StringComparer.Ordinal)
            : new Dictionary<string, string>(StringComparer.Ordinal);

        var failures = new StringBuilder();
        foreach (var hint in actual.Keys.Union(expected.Keys).OrderBy(h => h, StringComparer.Ordinal))
        {
            var hasActual = actual.TryGetValue(hint, out var actualText);
            var hasExpected = expected.TryGetValue(hint, out var expectedText);
            if (!hasExpected)
            {
                failures.AppendLine("+++ " + hint + ": generated, but there is no baseline");
            }
            else if (!hasActual)
            {
                failures.AppendLine("--- " + hint + ": in the baselines, but not generated");
            }
            else if (actualText != expectedText)
            {
                failures.AppendLine("--- Baselines/" + scenario + "/" + hint);
                failures.AppendLine("+++ generated " + hint);
                failures.Append(TextDiff.Unified(expectedText!, actualText!));
            }
        }

        if (failures.Length > 0)
        {
            Assert.Fail("The generated output differs from the baselines (set KH_UPDATE_BASELINES=1 or pass /p:UpdateBaselines=true to accept it):\n" + failures);
        }
    }

    private static string Normalize(string text) => text.Replace("\r\n", "\n");

    private static string? Metadata(string key) =>
        typeof(GeneratorHarness).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == key)?.Value;

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Harness.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Harness.sln not found above " + AppContext.BaseDirectory);
    }

    private static ImmutableArray<MetadataReference> LoadFrameworkReferences()
    {
        // Only the framework's own assemblies: the test host's TPA list also holds xunit and Roslyn, which
        // would make every test compilation "reference xunit".
        var frameworkDir = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        var tpa = (AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES") as string ?? string.Empty).Split(Path.PathSeparator);
        return tpa
            .Where(p => p.Length > 0 && string.Equals(Path.GetDirectoryName(p), frameworkDir, StringComparison.Ordinal))
            .OrderBy(p => p, StringComparer.Ordinal)
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))
            .ToImmutableArray();
    }
}

/// <summary>A small line diff (longest common subsequence), printed unified-style with context.</summary>
internal static class TextDiff
{
    public static string Unified(string expected, string actual, int context = 3)
    {
        var a = expected.Split('\n');
        var b = actual.Split('\n');
        var lcs = new int[a.Length + 1, b.Length + 1];
        for (var i = a.Length - 1; i >= 0; i--)
        {
            for (var j = b.Length - 1; j >= 0; j--)
            {
                lcs[i, j] = a[i] == b[j] ? lcs[i + 1, j + 1] + 1 : Math.Max(lcs[i + 1, j], lcs[i, j + 1]);
            }
        }

        var lines = new List<(char Kind, string Text)>();
        int x = 0, y = 0;
        while (x < a.Length || y < b.Length)
        {
            if (x < a.Length && y < b.Length && a[x] == b[y])
            {
                lines.Add((' ', a[x++]));
                y++;
            }
            else if (x < a.Length && (y == b.Length || lcs[x + 1, y] >= lcs[x, y + 1]))
            {
                lines.Add(('-', a[x++]));
            }
            else
            {
                lines.Add(('+', b[y++]));
            }
        }

        var output = new StringBuilder();
        var lastPrinted = -1;
        for (var k = 0; k < lines.Count; k++)
        {
            if (lines[k].Kind == ' ')
            {
                continue;
            }

            var from = Math.Max(lastPrinted + 1, k - context);
            if (from > lastPrinted + 1)
            {
                output.AppendLine("@@ line " + (from + 1) + " @@");
            }

            var to = Math.Min(lines.Count - 1, k + context);
            for (var m = from; m <= to; m++)
            {
                if (m > lastPrinted)
                {
                    output.Append(lines[m].Kind).AppendLine(lines[m].Text);
                    lastPrinted = m;
                }
            }
        }

        return output.ToString();
    }
}

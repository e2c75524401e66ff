using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using System.Reflection;
using KernelHarness.Analyzers.Rules;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;

namespace KernelHarness.Analyzers.Tests.Infrastructure;

/// <summary>Builds compilations of kernel-style student code: the running runtime's assemblies plus KernelHarness.dll.</summary>
public static class TestProject
{
    public const string GlobalUsings = "global using KernelHarness;\nglobal using static KernelHarness.Kernel;\n";

    public static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.Latest);

    public static readonly ImmutableArray<MetadataReference> References = BuildReferences();

    public static readonly ImmutableArray<DiagnosticAnalyzer> AllAnalyzers = typeof(KernelRuleAnalyzer).Assembly.GetTypes()
        .Where(t => !t.IsAbstract && typeof(DiagnosticAnalyzer).IsAssignableFrom(t) && t.GetCustomAttribute<DiagnosticAnalyzerAttribute>() is not null)
        .OrderBy(t => t.Name, StringComparer.Ordinal)
        .Select(t => (DiagnosticAnalyzer)Activator.CreateInstance(t)!)
        .ToImmutableArray();

    /// <summary>Every rule the analyzers report, one descriptor per ID, in ID order.</summary>
    public static readonly IReadOnlyList<DiagnosticDescriptor> AllDescriptors = AllAnalyzers.SelectMany(a => a.SupportedDiagnostics)
        .GroupBy(d => d.Id).Select(g => g.First()).OrderBy(d => d.Id, StringComparer.Ordinal).ToList();

    public static string RepoRoot { get; } = typeof(TestProject).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().First(a => a.Key == "RepoRoot").Value!;

    private static ImmutableArray<MetadataReference> BuildReferences()
    {
        var tpa = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator);
        var list = tpa.Where(p => Path.GetFileName(p).StartsWith("System.", StringComparison.Ordinal) || Path.GetFileName(p) is "mscorlib.dll" or "netstandard.dll")
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)).ToList();
        list.Add(MetadataReference.CreateFromFile(typeof(KernelHarness.Kernel).Assembly.Location));
        return list.ToImmutableArray();
    }

    /// <summary>
    /// Every corpus file (valid, labelled and the spec's examples), relative to the test output folder, in ordinal
    /// order: one theory row each, for the tests that hold something to every corpus file.
    /// </summary>
    public static IEnumerable<object[]> CorpusFiles()
        => Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Corpus"), "*.cs", SearchOption.AllDirectories)
            .OrderBy(f => f, StringComparer.Ordinal)
            .Select(f => new object[] { Path.GetRelativePath(AppContext.BaseDirectory, f) });

    /// <summary>
    /// A corpus file with the other files of its driver: a driver may be written in several files (a partial class
    /// in Name.Core.cs and Name.Irq.cs), which compile together. Names and sources, in file order.
    /// </summary>
    public static List<(string Path, string Source)> DriverOf(string corpusFile)
    {
        var path = Path.Combine(AppContext.BaseDirectory, corpusFile);
        return Read(DriverFiles(Path.GetDirectoryName(path)!).First(d => d.Contains(path, StringComparer.Ordinal)));
    }

    /// <summary>The drivers of a corpus folder, each as its files' names and sources (see <see cref="DriverOf"/>).</summary>
    public static IEnumerable<List<(string Path, string Source)>> DriversIn(string folder) => DriverFiles(folder).Select(Read);

    /// <summary>A folder's .cs files by driver: Name.Core.cs and Name.Irq.cs belong to driver Name.</summary>
    private static IEnumerable<IGrouping<string, string>> DriverFiles(string folder)
        => Directory.GetFiles(folder, "*.cs").OrderBy(f => f, StringComparer.Ordinal)
            .GroupBy(f => Path.GetFileName(f).Split('.')[0], StringComparer.Ordinal);

    private static List<(string Path, string Source)> Read(IEnumerable<string> files)
        => files.Select(f => (Path.GetFileName(f), File.ReadAllText(f))).ToList();

    public static CSharpCompilation Compile(IEnumerable<(string Path, string Source)> files, bool withUsings = true)
    {
        var trees = files.Select(f => CSharpSyntaxTree.ParseText(f.Source, ParseOptions, f.Path)).ToList();
        if (withUsings)
            trees.Add(CSharpSyntaxTree.ParseText(GlobalUsings, ParseOptions, "GlobalUsings.cs"));
        return CSharpCompilation.Create("Student", trees, References,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable, allowUnsafe: false));
    }

    public static void AssertCompiles(Compilation compilation)
    {
        var errors = compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        if (errors.Count > 0)
            throw new Xunit.Sdk.XunitException("The test source does not compile:\n" + string.Join("\n", errors.Select(e => e.ToString())));
    }

    public static ImmutableArray<Diagnostic> Analyze(Compilation compilation, ImmutableArray<DiagnosticAnalyzer> analyzers)
    {
        var withAnalyzers = compilation.WithAnalyzers(analyzers, new CompilationWithAnalyzersOptions(
            new AnalyzerOptions(ImmutableArray<AdditionalText>.Empty), onAnalyzerException: null, concurrentAnalysis: true, logAnalyzerExecutionTime: false, reportSuppressedDiagnostics: false));
        var all = withAnalyzers.GetAllDiagnosticsAsync().GetAwaiter().GetResult();
        var crashes = all.Where(d => d.Id == "AD0001").ToList();
        if (crashes.Count > 0)
            throw new Xunit.Sdk.XunitException("An analyzer threw:\n" + string.Join("\n", crashes.Select(c => c.GetMessage())));
        return all.Where(d => d.Id.StartsWith("KH", StringComparison.Ordinal))
            .OrderBy(d => d.Location.SourceTree?.FilePath, StringComparer.Ordinal).ThenBy(d => d.Location.SourceSpan.Start).ToImmutableArray();
    }
}

using System.Collections.Immutable;
using System.Linq;
using KernelHarness.Analyzers.Tests.Infrastructure;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Xunit;

namespace KernelHarness.Analyzers.Tests;

/// <summary>
/// The IDE analyses the open document on its own (semantic diagnostics of one file, no compilation-end
/// pass): an interprocedural finding must still show there, with the registration in one file and the
/// sleeping callee in another.
/// </summary>
public class OpenDocumentTests
{
    private static ImmutableArray<Diagnostic> OpenDocument(string path)
    {
        var compilation = CrossFileProject.Compile();
        var withAnalyzers = compilation.WithAnalyzers(TestProject.AllAnalyzers, new AnalyzerOptions(ImmutableArray<AdditionalText>.Empty));
        var tree = compilation.SyntaxTrees.Single(t => t.FilePath == path);
        return withAnalyzers.GetAnalyzerSemanticDiagnosticsAsync(compilation.GetSemanticModel(tree), filterSpan: null, default).GetAwaiter().GetResult()
            .Where(d => d.Id.StartsWith("KH", System.StringComparison.Ordinal)).ToImmutableArray();
    }

    [Fact]
    public void Handler_file_alone_shows_the_sleep_reached_through_another_files_helper()
    {
        var found = OpenDocument("Handlers.cs");
        var d = Assert.Single(found);
        Assert.Equal("KH1001", d.Id);
        Assert.Equal("Helpers.refill()", d.Location.SourceTree!.GetText().ToString(d.Location.SourceSpan));
        Assert.Contains("request_irq", d.GetMessage(System.Globalization.CultureInfo.InvariantCulture), System.StringComparison.Ordinal);
        // The chain's links (the allocation in Helpers.cs) are additional locations.
        Assert.Contains(d.AdditionalLocations, l => l.SourceTree?.FilePath == "Helpers.cs");
    }

    [Fact]
    public void Files_without_the_finding_stay_silent_when_opened_alone()
    {
        Assert.Empty(OpenDocument("Driver.cs"));
        Assert.Empty(OpenDocument("Helpers.cs"));
    }
}

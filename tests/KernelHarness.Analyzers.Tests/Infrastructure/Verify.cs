using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Text;
using Xunit.Sdk;

namespace KernelHarness.Analyzers.Tests.Infrastructure;

/// <summary>An expected diagnostic: a marked location (by index or the default) and optionally its message.</summary>
public sealed record Expected(string Id, int? Index = null, string? Message = null, DiagnosticSeverity? Severity = null)
{
    public static Expected Diagnostic(string id, int index) => new(id, index);
    public Expected WithMessage(string message) => this with { Message = message };
}

/// <summary>
/// The in-house test builder: markup in, the analyzer run on a compilation that must compile, every
/// diagnostic compared by ID, span, severity and (when given) message; on a mismatch the source is printed
/// annotated with what was actually reported. Code fixes are applied in an AdhocWorkspace, one and fix-all,
/// and the result must compile, equal the expected text and be free of the finding.
/// </summary>
public static class Verify<TAnalyzer> where TAnalyzer : DiagnosticAnalyzer, new()
{
    private const string FileName = "Driver.cs";

    public static void Diagnostics(string markup, params Expected[] expected)
    {
        var analyzer = new TAnalyzer();
        var (source, spans) = Markup.Parse(markup);
        var compilation = TestProject.Compile(new[] { (FileName, source) });
        TestProject.AssertCompiles(compilation);
        var actual = TestProject.Analyze(compilation, ImmutableArray.Create<DiagnosticAnalyzer>(analyzer));
        var defaultId = analyzer.SupportedDiagnostics[0].Id;

        var wanted = new List<(string Id, TextSpan Span, string? Message, DiagnosticSeverity Severity)>();
        foreach (var s in spans.Where(s => s.Index is null))
            wanted.Add((s.Id ?? defaultId, s.Span, expected.FirstOrDefault(e => e.Index is null && e.Id == (s.Id ?? defaultId))?.Message, SeverityOf(analyzer, s.Id ?? defaultId)));
        foreach (var e in expected.Where(e => e.Index is not null))
        {
            var s = spans.Single(x => x.Index == e.Index);
            wanted.Add((e.Id, s.Span, e.Message, e.Severity ?? SeverityOf(analyzer, e.Id)));
        }

        var problems = new List<string>();
        var unmatched = actual.ToList();
        foreach (var w in wanted)
        {
            var match = unmatched.FirstOrDefault(d => d.Id == w.Id && d.Location.SourceSpan == w.Span);
            if (match is null)
            {
                problems.Add($"missing {w.Id} at {Describe(source, w.Span)}");
                continue;
            }
            unmatched.Remove(match);
            if (match.Severity != w.Severity)
                problems.Add($"{w.Id} at {Describe(source, w.Span)}: severity {match.Severity}, expected {w.Severity}");
            if (w.Message is not null && match.GetMessage(System.Globalization.CultureInfo.InvariantCulture) != w.Message)
                problems.Add($"{w.Id} at {Describe(source, w.Span)}: message\n    actual:   {match.GetMessage(System.Globalization.CultureInfo.InvariantCulture)}\n    expected: {w.Message}");
        }
        foreach (var d in unmatched)
            problems.Add($"unexpected {d.Id} at {Describe(source, d.Location.SourceSpan)}: {d.GetMessage(System.Globalization.CultureInfo.InvariantCulture)}");
        if (problems.Count > 0)
            throw new XunitException(string.Join("\n", problems) + "\n\nActual diagnostics in the source:\n" + Annotate(source, actual));
    }

    public static void NoDiagnostics(string source) => Diagnostics(source);

    private static DiagnosticSeverity SeverityOf(DiagnosticAnalyzer analyzer, string id)
        => analyzer.SupportedDiagnostics.FirstOrDefault(d => d.Id == id)?.DefaultSeverity ?? DiagnosticSeverity.Error;

    private static string Describe(string source, TextSpan span)
    {
        var text = SourceText.From(source);
        var pos = text.Lines.GetLinePosition(span.Start);
        return $"({pos.Line + 1},{pos.Character + 1}) '{source.Substring(span.Start, Math.Min(span.Length, 60))}'";
    }

    /// <summary>The source with each actual diagnostic inserted as markup.</summary>
    public static string Annotate(string source, IEnumerable<Diagnostic> diagnostics)
    {
        var inserts = new List<(int Pos, int Order, string Text)>();
        foreach (var d in diagnostics.Where(d => d.Location.IsInSource && d.Location.SourceTree!.FilePath == FileName))
        {
            inserts.Add((d.Location.SourceSpan.Start, 1, "{|" + d.Id + ":"));
            inserts.Add((d.Location.SourceSpan.End, 0, "|}"));
        }
        var sb = new StringBuilder(source);
        foreach (var (pos, _, text) in inserts.OrderByDescending(x => x.Pos).ThenBy(x => x.Order))
            sb.Insert(pos, text);
        sb.AppendLine();
        foreach (var d in diagnostics)
            sb.AppendLine("// " + d);
        return sb.ToString();
    }

    /// <summary>Applies the fix with <paramref name="equivalenceKey"/> (or the first) to the first diagnostic, then to all with fix-all.</summary>
    public static void CodeFix<TFix>(string markup, string expectedAfterOne, string? expectedAfterAll = null, string? equivalenceKey = null)
        where TFix : CodeFixProvider, new()
    {
        var (source, _) = Markup.Parse(markup);
        var analyzer = new TAnalyzer();
        var fix = new TFix();
        var id = analyzer.SupportedDiagnostics[0].Id;

        var fixedOne = ApplyAsync(source, analyzer, fix, id, equivalenceKey, fixAll: false).GetAwaiter().GetResult();
        AssertText(expectedAfterOne, fixedOne, "after one fix");
        var fixedAll = ApplyAsync(source, analyzer, fix, id, equivalenceKey, fixAll: true).GetAwaiter().GetResult();
        AssertText(expectedAfterAll ?? expectedAfterOne, fixedAll, "after fix-all");
        foreach (var text in new[] { fixedAll })
        {
            var compilation = TestProject.Compile(new[] { (FileName, text) });
            TestProject.AssertCompiles(compilation);
            var left = TestProject.Analyze(compilation, ImmutableArray.Create<DiagnosticAnalyzer>(analyzer)).Where(d => d.Id == id).ToList();
            if (left.Count > 0)
                throw new XunitException("The finding is still there after the fix:\n" + Annotate(text, left));
        }
    }

    private static void AssertText(string expected, string actual, string when)
    {
        if (Normalize(expected) != Normalize(actual))
            throw new XunitException($"Code fix result differs ({when}).\n--- expected\n{expected}\n--- actual\n{actual}");
    }

    private static string Normalize(string s) => s.Replace("\r\n", "\n");

    private static async Task<string> ApplyAsync(string source, DiagnosticAnalyzer analyzer, CodeFixProvider fix, string id, string? key, bool fixAll)
    {
        using var workspace = new AdhocWorkspace();
        var projectId = ProjectId.CreateNewId();
        var solution = workspace.CurrentSolution
            .AddProject(ProjectInfo.Create(projectId, VersionStamp.Default, "Student", "Student", LanguageNames.CSharp,
                compilationOptions: new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable),
                parseOptions: TestProject.ParseOptions, metadataReferences: TestProject.References))
            .AddDocument(DocumentId.CreateNewId(projectId), "GlobalUsings.cs", TestProject.GlobalUsings);
        var docId = DocumentId.CreateNewId(projectId);
        solution = solution.AddDocument(docId, FileName, SourceText.From(source), filePath: FileName);
        var document = solution.GetDocument(docId)!;
        var compilation = (await document.Project.GetCompilationAsync().ConfigureAwait(false))!;
        var diagnostics = TestProject.Analyze(compilation, ImmutableArray.Create(analyzer)).Where(d => d.Id == id).ToImmutableArray();
        if (diagnostics.IsEmpty)
            throw new XunitException("No diagnostic to fix:\n" + source);

        var actions = new List<CodeAction>();
        var context = new CodeFixContext(document, diagnostics[0], (a, _) => actions.Add(a), CancellationToken.None);
        await fix.RegisterCodeFixesAsync(context).ConfigureAwait(false);
        var action = key is null ? actions.FirstOrDefault() : actions.FirstOrDefault(a => a.EquivalenceKey == key);
        if (action is null)
            throw new XunitException($"No code action{(key is null ? "" : " '" + key + "'")}; offered: {string.Join(", ", actions.Select(a => a.EquivalenceKey))}");

        if (fixAll)
        {
            var provider = fix.GetFixAllProvider()!;
            var fixAllContext = new FixAllContext(document, fix, FixAllScope.Document, action.EquivalenceKey, new[] { id }, new Provider(diagnostics), CancellationToken.None);
            action = await provider.GetFixAsync(fixAllContext).ConfigureAwait(false) ?? throw new XunitException("Fix-all offered nothing");
        }
        var operations = await action.GetOperationsAsync(CancellationToken.None).ConfigureAwait(false);
        var changed = operations.OfType<ApplyChangesOperation>().Single().ChangedSolution;
        var text = await changed.GetDocument(docId)!.GetTextAsync().ConfigureAwait(false);
        return text.ToString();
    }

    private sealed class Provider : FixAllContext.DiagnosticProvider
    {
        private readonly ImmutableArray<Diagnostic> diagnostics;
        public Provider(ImmutableArray<Diagnostic> diagnostics) => this.diagnostics = diagnostics;
        public override Task<IEnumerable<Diagnostic>> GetAllDiagnosticsAsync(Project project, CancellationToken cancellationToken) => Task.FromResult<IEnumerable<Diagnostic>>(diagnostics);
        public override Task<IEnumerable<Diagnostic>> GetDocumentDiagnosticsAsync(Document document, CancellationToken cancellationToken) => Task.FromResult<IEnumerable<Diagnostic>>(diagnostics);
        public override Task<IEnumerable<Diagnostic>> GetProjectDiagnosticsAsync(Project project, CancellationToken cancellationToken) => Task.FromResult<IEnumerable<Diagnostic>>(Array.Empty<Diagnostic>());
    }
}

using KernelHarness.Analyzers.Summaries;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;

namespace KernelHarness.Analyzers.Rules;

/// <summary>
/// KH1003: GFP_ATOMIC in a method only ever reached in process context with nothing held. Uses the
/// engine's allocation sites and the compilation's call graph (callers' states at each call, and the
/// contexts registrations and attributes give); methods with unknown callers are left alone.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class AtomicGfpWhereSleepingAllowedAnalyzer : KernelRuleAnalyzer
{
    private protected override DiagnosticDescriptor Rule => Descriptors.KH1003;

    private protected override void AnalyzeFile(FileContext file)
    {
        foreach (var fn in file.Methods)
            Check(file, fn);
    }

    private static void Check(FileContext file, IMethodSymbol fn)
    {
        var model = file.Model;
        var analysis = model.Analyze(fn);
        foreach (var site in analysis.AtomicGfpSites)
        {
            if (site.AtomicOnSomePath || site.Location.SourceTree != file.Tree)
                continue;
            if (model.ReachedContext(fn) != CompilationModel.ProcessOnly.Process)
                return;
            file.Report(Diagnostic.Create(Descriptors.KH1003, site.Location, site.Properties, site.Api + "()", site.GfpText, fn.MethodKind == MethodKind.AnonymousFunction ? "lambda" : fn.Name));
        }
    }
}

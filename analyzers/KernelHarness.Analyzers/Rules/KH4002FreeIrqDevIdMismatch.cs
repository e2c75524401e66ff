using KernelHarness.Analyzers.ContextEngine;
using KernelHarness.Analyzers.Summaries;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace KernelHarness.Analyzers.Rules;

/// <summary>
/// KH4002: <c>free_irq(irq, x)</c> where the compilation requests that irq (same key: constant, field, same
/// parameter name) only with dev_id expressions that all resolve and none of which is <c>x</c>. When an irq or
/// a dev_id cannot be resolved, or the irq is never requested in the compilation, the rule stays silent.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class FreeIrqDevIdMismatchAnalyzer : KernelRuleAnalyzer
{
    private protected override DiagnosticDescriptor Rule => Descriptors.KH4002;

    private protected override void AnalyzeFile(FileContext file)
    {
        var model = file.Model;
        var irqs = IrqRequests.Get(model);
        foreach (var site in file.Operations(OperationKind.Invocation))
        {
            var inv = (IInvocationOperation)site.Operation;
            if (!irqs.IsFree(inv) || inv.Arguments.Length < 2)
                continue;
            var frame = site.Member as IMethodSymbol ?? inv.TargetMethod;
            var irqArg = Eval.ArgumentAt(inv.Arguments, 0)?.Value;
            var devArg = Eval.ArgumentAt(inv.Arguments, 1)?.Value;
            if (irqArg is null || devArg is null)
                continue;
            var irqKey = irqs.Key(irqArg, frame);
            var devKey = irqs.Key(devArg, frame);
            if (irqKey is null || devKey is null)
                continue;
            if (FirstMismatch(irqs, irqArg, irqKey, devKey) is not { } first)
                continue;
            file.Report(Diagnostic.Create(Descriptors.KH4002, inv.Syntax.GetLocation(), irqArg.Syntax.ToString(), devArg.Syntax.ToString(), first.DevText, Kinds.Where(first.Call.Syntax.GetLocation())));
        }
    }

    /// <summary>
    /// The first request of the same irq, when there is one and every request of it passes a known dev_id other
    /// than <paramref name="devKey"/>; null otherwise. (A loop, not a lambda: the rule runs at every call of the file.)
    /// </summary>
    private static IrqRequest? FirstMismatch(IrqRequests irqs, IOperation irqArg, string irqKey, string devKey)
    {
        IrqRequest? first = null;
        foreach (var r in irqs.RequestsLike(irqArg))
        {
            if (r.IrqKey != irqKey)
                continue;
            if (r.DevKey is null || r.DevKey == devKey)
                return null;
            first ??= r;
        }
        return first;
    }
}

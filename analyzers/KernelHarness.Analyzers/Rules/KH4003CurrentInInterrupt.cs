using System.Collections.Generic;
using System.Linq;
using KernelHarness.Analyzers.Summaries;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace KernelHarness.Analyzers.Rules;

/// <summary>
/// KH4003: reading <c>current</c> (or <c>current.mm</c>, <c>current.pid</c> …) in a method registered as a
/// hard-IRQ handler or a softirq callback (tasklet, timer), wherever the registration is in the
/// compilation, or in a helper such a method calls (to any depth). A method that tests <c>in_task()</c> is taken
/// to guard its reads, and a caller that tests it, the calls it makes.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class CurrentInInterruptAnalyzer : KernelRuleAnalyzer
{
    private protected override DiagnosticDescriptor Rule => Descriptors.KH4003;

    private protected override void AnalyzeFile(FileContext file)
    {
        foreach (var fn in file.Methods)
            Check(file, fn);
    }

    private static void Check(FileContext file, IMethodSymbol fn)
    {
        var model = file.Model;
        var k = model.Symbols;
        var body = model.Index.BodyOf(fn);
        if (body is null)
            return;
        var ops = Provenance.ProvenanceModel.Descend(body is IAnonymousFunctionOperation a ? a.Body : body).ToList();
        if (!ops.Any(o => o is IPropertyReferenceOperation p && k.RoleOf(p.Property) == Role.CurrentTask)
            || ops.Any(o => o is IInvocationOperation i && k.Info(i.TargetMethod).Role == Role.InTaskPredicate))
            return;
        var reached = InterruptEntry(model, fn, new HashSet<IMethodSymbol>(SymbolEqualityComparer.Default), 0);
        if (reached is null)
            return;
        var (origin, chain) = reached.Value;
        var where = (origin.Context & Ctx.HardIrq) != 0 ? "hard-IRQ context" : "softirq context";
        var why = chain.Length == 0 ? origin.Description : chain + ", and " + origin.Description;
        foreach (var op in ops)
        {
            if (op is not IPropertyReferenceOperation p || k.RoleOf(p.Property) != Role.CurrentTask || op.Syntax.SyntaxTree != file.Tree)
                continue;
            // Report the member read on current (current.pid), or current itself.
            IOperation shown = op;
            if (op.Parent is IMemberReferenceOperation m && m.Instance == op)
                shown = m;
            file.Report(Diagnostic.Create(Descriptors.KH4003, shown.Syntax.GetLocation(), shown.Syntax.ToString(), where, why));
        }
    }

    /// <summary>
    /// The interrupt-context entry that reaches <paramref name="fn"/>: its own registration, or a caller's
    /// (a helper called from a handler runs in the handler's context), with the calls in between; a caller
    /// that tests <c>in_task()</c> guards what it calls.
    /// </summary>
    private static (ContextOrigin Origin, string Chain)? InterruptEntry(CompilationModel model, IMethodSymbol fn, HashSet<IMethodSymbol> seen, int depth)
    {
        if (depth > 6 || !seen.Add(fn.OriginalDefinition))
            return null;
        var own = model.OwnContexts(fn).FirstOrDefault(o => (o.Context & Ctx.Interrupt) != 0);
        if (own is not null)
            return (own, "");
        var k = model.Symbols;
        foreach (var edge in model.Index.CallersOf(fn.OriginalDefinition))
        {
            var callerBody = model.Index.BodyOf(edge.Caller.OriginalDefinition);
            if (callerBody is null || Provenance.ProvenanceModel.Descend(callerBody).Any(o => o is IInvocationOperation i && k.Info(i.TargetMethod).Role == Role.InTaskPredicate))
                continue;
            var up = InterruptEntry(model, edge.Caller, seen, depth + 1);
            if (up is null)
                continue;
            var callerName = edge.Caller.MethodKind == MethodKind.AnonymousFunction ? "a lambda" : edge.Caller.Name + "()";
            var link = fn.Name + "() is called from " + callerName + " at " + ContextEngine.Kinds.Where(edge.Call.Syntax.GetLocation());
            return (up.Value.Origin, up.Value.Chain.Length == 0 ? link : link + ", " + up.Value.Chain);
        }
        return null;
    }
}

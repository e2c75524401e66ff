using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Runtime.CompilerServices;
using KernelHarness.Analyzers.Summaries;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace KernelHarness.Analyzers.Rules;

/// <summary>
/// KH5001: <c>&lt;</c>, <c>&gt;</c>, <c>&lt;=</c>, <c>&gt;=</c> between a jiffies time and another value. A time is
/// <c>jiffies</c>, a time plus or minus a duration (<c>jiffies + HZ</c>), or a local, field, property or
/// parameter that is assigned a time anywhere in the compilation (flow-insensitive, to a fixpoint). The
/// difference of two times is a duration, so <c>jiffies - start &gt; HZ</c> is the wrap-safe form and is silent.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class RawJiffiesComparisonAnalyzer : KernelRuleAnalyzer
{
    private protected override DiagnosticDescriptor Rule => Descriptors.KH5001;

    private protected override void Register(CompilationStartAnalysisContext start, CompilationModel model)
    {
        start.RegisterOperationAction(ctx =>
        {
            var b = (IBinaryOperation)ctx.Operation;
            string? fn = b.OperatorKind switch
            {
                BinaryOperatorKind.GreaterThan => "time_after",
                BinaryOperatorKind.LessThan => "time_before",
                BinaryOperatorKind.GreaterThanOrEqual => "time_after_eq",
                BinaryOperatorKind.LessThanOrEqual => "time_before_eq",
                _ => null,
            };
            if (fn is null || b.OperatorMethod is not null)
                return;
            var times = JiffiesTimes.Get(model);
            bool l = times.IsTime(b.LeftOperand), r = times.IsTime(b.RightOperand);
            if (!(l || r))
                return;
            if ((l && !r && b.RightOperand.ConstantValue.HasValue) || (r && !l && b.LeftOperand.ConstantValue.HasValue))
                return;
            var replacement = fn + "(" + Arg(b.LeftOperand) + ", " + Arg(b.RightOperand) + ")";
            var op = b.Syntax is BinaryExpressionSyntax bs ? bs.OperatorToken.Text : "<";
            var props = ImmutableDictionary<string, string?>.Empty.Add("Replacement", replacement);
            ctx.ReportDiagnostic(Diagnostic.Create(Descriptors.KH5001, b.Syntax.GetLocation(), props, b.Syntax.ToString(), op, replacement));
        }, OperationKind.Binary);
    }

    /// <summary>The operand as a time_after argument (unsigned long): a cast where C# would not convert implicitly.</summary>
    private static string Arg(IOperation op)
    {
        var text = op.Syntax.ToString();
        var t = Eval.Unwrap(op).Type?.SpecialType;
        if (t is SpecialType.System_UInt64 or SpecialType.System_UInt32 or SpecialType.System_UInt16 or SpecialType.System_Byte)
            return Eval.Unwrap(op).Syntax.ToString();
        return "(ulong)" + (op.Syntax is IdentifierNameSyntax or MemberAccessExpressionSyntax or InvocationExpressionSyntax or ParenthesizedExpressionSyntax ? text : "(" + text + ")");
    }
}

/// <summary>Which symbols hold a jiffies time, computed once per compilation (shared by KH5001's fix and rule).</summary>
internal sealed class JiffiesTimes
{
    private static readonly ConditionalWeakTable<CompilationModel, JiffiesTimes> Cache = new();
    private readonly KernelSymbols k;
    private readonly HashSet<ISymbol> times = new(SymbolEqualityComparer.Default);

    private JiffiesTimes(CompilationModel model)
    {
        k = model.Symbols;
        var flows = new List<(ISymbol Target, IOperation Value)>();
        bool anyJiffies = false;
        foreach (var tree in k.Compilation.SyntaxTrees)
        {
            var root = tree.GetRoot();
            if (!root.DescendantTokens().Any(t => t.IsKind(SyntaxKind.IdentifierToken) && t.ValueText == "jiffies"))
                continue;
            anyJiffies = true;
        }
        if (!anyJiffies)
            return;
        foreach (var tree in k.Compilation.SyntaxTrees)
        {
            SemanticModel? sm = null;
            foreach (var node in tree.GetRoot().DescendantNodes())
            {
                if (node is not (AssignmentExpressionSyntax or EqualsValueClauseSyntax or ArgumentSyntax))
                    continue;
                sm ??= model.SemanticModels.Get(tree);
                switch (node)
                {
                    case AssignmentExpressionSyntax a when a.IsKind(SyntaxKind.SimpleAssignmentExpression):
                        if (sm.GetOperation(a) is ISimpleAssignmentOperation sa && Target(sa.Target) is { } t)
                            flows.Add((t, sa.Value));
                        break;
                    case EqualsValueClauseSyntax eq:
                        var init = sm.GetOperation(eq);
                        if (init is IVariableInitializerOperation vi && vi.Parent is IVariableDeclaratorOperation vd)
                            flows.Add((vd.Symbol, vi.Value));
                        else if (init is IFieldInitializerOperation fi)
                            foreach (var f in fi.InitializedFields)
                                flows.Add((f, fi.Value));
                        else if (init is IPropertyInitializerOperation pi)
                            foreach (var p in pi.InitializedProperties)
                                flows.Add((p, pi.Value));
                        break;
                    case ArgumentSyntax arg:
                        if (sm.GetOperation(arg) is IArgumentOperation ao && ao.Parameter is { } param && param.Locations.Any(l => l.IsInSource))
                            flows.Add((param.OriginalDefinition, ao.Value));
                        break;
                }
            }
        }
        bool changed = true;
        for (int round = 0; changed && round < 8; round++)
        {
            changed = false;
            foreach (var (target, value) in flows)
                if (!times.Contains(target) && IsTime(value))
                    changed |= times.Add(target);
        }
    }

    public static JiffiesTimes Get(CompilationModel model) => Cache.GetValue(model, m => new JiffiesTimes(m));

    private static ISymbol? Target(IOperation op) => Eval.Unwrap(op) switch
    {
        ILocalReferenceOperation l => l.Local,
        IFieldReferenceOperation f => f.Field.OriginalDefinition,
        IPropertyReferenceOperation p when p.Arguments.IsEmpty => p.Property.OriginalDefinition,
        IParameterReferenceOperation p => p.Parameter.OriginalDefinition,
        _ => null,
    };

    /// <summary>Is the value a point in jiffies time (not a duration)?</summary>
    public bool IsTime(IOperation op)
    {
        op = Eval.Unwrap(op);
        switch (op)
        {
            case IPropertyReferenceOperation p when k.RoleOf(p.Property) == Role.Jiffies:
                return true;
            case IFieldReferenceOperation f when k.RoleOf(f.Field) == Role.Jiffies:
                return true;
            case IBinaryOperation { OperatorKind: BinaryOperatorKind.Add } add:
                return IsTime(add.LeftOperand) ^ IsTime(add.RightOperand);
            case IBinaryOperation { OperatorKind: BinaryOperatorKind.Subtract } sub:
                return IsTime(sub.LeftOperand) && !IsTime(sub.RightOperand);
            case IConditionalOperation c when c.WhenFalse is not null:
                return IsTime(c.WhenTrue) || IsTime(c.WhenFalse);
        }
        var s = Target(op);
        return s is not null && times.Contains(s);
    }
}

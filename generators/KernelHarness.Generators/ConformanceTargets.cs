using System.Collections.Generic;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace KernelHarness.Generators;

/// <summary>Pipeline B: finds student classes implementing assignable subsystems and writes their conformance test classes.</summary>
internal static class ConformanceTargets
{
    /// <summary>A class that could implement an interface: it has a base list, or is partial (another part may have one).</summary>
    public static bool IsCandidate(SyntaxNode node) =>
        node is ClassDeclarationSyntax declaration
        && (declaration.BaseList is not null || declaration.Modifiers.Any(SyntaxKind.PartialKeyword))
        && !declaration.Modifiers.Any(SyntaxKind.AbstractKeyword)
        && !declaration.Modifiers.Any(SyntaxKind.StaticKeyword);

    public static ConformanceTargetModel? Parse(GeneratorSyntaxContext context, CancellationToken cancellationToken)
    {
        if (context.SemanticModel.GetDeclaredSymbol(context.Node, cancellationToken) is not INamedTypeSymbol type
            || type.IsAbstract
            || type.IsStatic
            || type.ContainingAssembly?.Name == Naming.KernelHarnessAssembly)
        {
            return null;
        }

        // A partial class is reported once, from its first declaration.
        var first = type.DeclaringSyntaxReferences.FirstOrDefault();
        if (first is null || first.SyntaxTree != context.Node.SyntaxTree || first.Span != context.Node.Span)
        {
            return null;
        }

        for (var t = type; t is not null; t = t.ContainingType)
        {
            if (t.IsGenericType || t.DeclaredAccessibility is Accessibility.Private or Accessibility.Protected or Accessibility.ProtectedAndInternal)
            {
                return null;
            }
        }

        if (!type.InstanceConstructors.Any(c => c.Parameters.Length == 0
            && c.DeclaredAccessibility is Accessibility.Public or Accessibility.Internal or Accessibility.ProtectedOrInternal))
        {
            return null;
        }

        var subsystems = new List<ConformanceSubsystemModel>();
        foreach (var @interface in type.AllInterfaces)
        {
            cancellationToken.ThrowIfCancellationRequested();
            // Any interface marked assignable counts: the kernel subsystems (KernelHarness.Subsystems) and
            // assignments that are not a subsystem, such as the driver assignment's IDriverAssignment.
            foreach (var attribute in @interface.GetAttributes())
            {
                if (attribute.AttributeClass?.ToDisplayString() == Naming.KernelSubsystemAttribute
                    && attribute.ConstructorArguments.Length > 0
                    && attribute.ConstructorArguments[0].Value is string name
                    && attribute.NamedArguments.Any(p => p.Key == "Assignable" && p.Value.Value is true)
                    && !subsystems.Any(s => s.Name == name))
                {
                    subsystems.Add(new ConformanceSubsystemModel(name, Naming.FieldNameOf(@interface.Name)));
                }
            }
        }

        if (subsystems.Count == 0)
        {
            return null;
        }

        var className = type.Name;
        for (var t = type.ContainingType; t is not null; t = t.ContainingType)
        {
            className = t.Name + "_" + className;
        }

        return new ConformanceTargetModel(
            type.ContainingNamespace is { IsGlobalNamespace: false } ns ? ns.ToDisplayString() : null,
            className,
            type.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat),
            subsystems.OrderBy(s => s.Name, System.StringComparer.Ordinal).ToEquatableArray());
    }

    public static void Emit(SourceProductionContext context, ConformanceTargetModel target)
    {
        foreach (var subsystem in target.Subsystems)
        {
            context.CancellationToken.ThrowIfCancellationRequested();
            var className = target.ClassName + "_" + subsystem.Identifier + "_Conformance";
            var name = Naming.Literal(subsystem.Name);
            var writer = new SourceWriter().WriteFileHeader(target.Namespace is null ? "Conformance" : target.Namespace + ".Conformance");
            writer.WriteLine("/// <summary>Runs the public conformance tests of the <c>" + subsystem.Name + "</c> subsystem against <see cref=\""
                + target.FullyQualifiedName.Replace("global::", string.Empty) + "\"/>.</summary>");
            writer.WriteLine(Naming.GeneratedCodeAttribute);
            writer.OpenBlock("public sealed partial class " + className);
            writer.WriteLine("/// <summary>The names of the subsystem's public conformance tests.</summary>");
            writer.WriteLine("public static global::System.Collections.Generic.IEnumerable<object[]> Tests => global::KernelHarness.Conformance.ConformanceRunner.PublicTestCases(" + name + ");");
            writer.WriteLine();
            writer.WriteLine("/// <summary>Runs one conformance test on a fresh machine with this implementation bound.</summary>");
            writer.WriteLine("[global::Xunit.Theory(DisplayName = " + Naming.Literal(subsystem.Name + " conformance") + ")]");
            writer.WriteLine("[global::Xunit.MemberData(nameof(Tests))]");
            writer.WriteLine("public void Conformance(string test) => global::KernelHarness.Conformance.ConformanceRunner.RunForTestFramework(" + name
                + ", test, static () => new " + target.FullyQualifiedName + "());");
            writer.CloseBlock();
            var hint = "Conformance." + Naming.ForHintName(target.FullyQualifiedName.Replace("global::", string.Empty)) + "." + Naming.ForHintName(subsystem.Identifier) + ".g.cs";
            context.AddSource(hint, writer.ToString());
        }
    }
}
